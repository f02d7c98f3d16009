FROM alpine:3.19 AS Scratch
RUN mkdir -p /rootfs/etc && echo "app:x:1000:1000::/:/sbin/nologin" > /rootfs/etc/passwd

FROM scratch
COPY --from=Scratch /rootfs/ /
USER 1000
