FROM alpine:3.19
RUN apk add --no-cache \
        ca-certificates=20240226-r0 \
        "libstdc++=13.2.1_git20231014-r0" \
        nodejs~20 \
        /tmp/packages/custom-1.0-r0.apk
USER 1000:1000
