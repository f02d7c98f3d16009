FROM alpine:3.19
RUN apk add --no-cache \
        --repository=https://dl-cdn.alpinelinux.org/alpine/edge/testing \
        --repository https://dl-cdn.alpinelinux.org/alpine/edge/community \
        hub=2.14.2-r20
