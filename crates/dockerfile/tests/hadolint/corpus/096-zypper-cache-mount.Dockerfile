# syntax=docker/dockerfile:1
FROM opensuse/leap:15.5
RUN --mount=type=cache,target=/var/cache/zypp \
    zypper -n install make=4.2.1
