FROM alpine:3.19
LABEL org.opencontainers.image.title="web \
      org.opencontainers.image.version=1.0
