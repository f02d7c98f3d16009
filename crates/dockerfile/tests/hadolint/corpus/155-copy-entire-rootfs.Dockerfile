FROM alpine:3.19 AS rootfs
RUN apk add --no-cache --root /rootfs --initdb --keys-dir /etc/apk/keys busybox=1.36.1-r15

FROM scratch
COPY --from=rootfs / /
CMD ["/bin/sh"]
