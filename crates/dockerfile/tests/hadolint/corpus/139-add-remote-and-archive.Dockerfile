FROM alpine:3.19
ADD https://dl-cdn.alpinelinux.org/alpine/v3.19/releases/x86_64/alpine-minirootfs-3.19.1-x86_64.tar.gz /tmp/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d vendor.tgz /opt/vendor/
ADD "toolchain.tar.zst.tar" /opt/
