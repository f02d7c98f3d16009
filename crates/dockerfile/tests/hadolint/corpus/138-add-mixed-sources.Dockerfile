FROM debian:bookworm-slim
ADD https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
ADD rootfs.tar.xz config.yaml /
RUN chmod +x /tini
ENTRYPOINT ["/tini", "--"]
