FROM ubuntu:22.04
RUN useradd -m -s /bin/bash dev && echo "dev ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers
USER dev
RUN sudo apt-get update && sudo apt-get install -y vim-tiny \
    && sudo rm -rf /var/lib/apt/lists/*
WORKDIR /home/dev
