# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN <<EOF
set -eux
apk add --no-cache curl
CMD ["curl", "--version"]
