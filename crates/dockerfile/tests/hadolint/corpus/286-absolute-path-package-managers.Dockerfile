FROM debian:bookworm-slim
RUN /usr/bin/apt-get update \
    && /usr/bin/apt-get install curl \
    && env apt-get install wget \
    && xargs apt-get install < /tmp/pkgs
