FROM alpine:3.19
RUN apk add --no-cache procps=4.0.4-r0 \
    && busybox top -b -n 1 > /tmp/top.txt
