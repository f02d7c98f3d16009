# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN <<EOF
echo hello
EOF
USER 1000
