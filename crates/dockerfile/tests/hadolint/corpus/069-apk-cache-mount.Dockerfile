# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN --mount=type=cache,target=/var/cache/apk \
    apk add --update python3=3.11.8-r0 py3-pip=23.3.1-r0
