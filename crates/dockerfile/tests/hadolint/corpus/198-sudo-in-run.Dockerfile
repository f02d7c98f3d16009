FROM ubuntu:22.04
RUN useradd -m builder && echo "builder ALL=(root) NOPASSWD: ALL" > /etc/sudoers.d/builder
USER builder
RUN sudo mkdir -p /opt/tools && sudo chown builder /opt/tools
WORKDIR /opt/tools
