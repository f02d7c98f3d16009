FROM alpine:3.19 AS rootfs
RUN mkdir -p /out/etc && cp /etc/passwd /etc/group /out/etc/

FROM scratch
COPY --from=rootfs /out/ /
COPY --from=rootfs / /rootfs-copy/
