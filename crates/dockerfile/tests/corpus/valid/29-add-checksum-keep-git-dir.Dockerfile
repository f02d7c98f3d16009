# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN apk add --no-cache git xz
ADD --checksum=sha256:c0a4b8e4e2f21d5ff2bc1d1eda8bd1e2cb4e2c6a6c4e1a4b8c1b7d8f0e2a9c3d \
    https://mirrors.edge.kernel.org/pub/linux/kernel/v6.x/linux-6.8.tar.xz /usr/src/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.13.0 /src/buildkit
WORKDIR /src/buildkit
RUN git describe --tags
