FROM \
    ubuntu:22.04 base
RUN apt-get update
