FROM ubuntu:22.04
RUN useradd -m dev
USER dev
RUN sudo echo "127.0.0.1 db.local" >> /etc/hosts
