# syntax=docker/dockerfile:1
FROM fedora:41
RUN --mount=type=cache,target=/var/cache/libdnf5 \
    dnf -y install rust-1.78.0 cargo-1.78.0
