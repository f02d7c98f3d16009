FROM fedora:40
RUN dnf -y install gcc-14.0.1 make-4.4.1
WORKDIR /src
