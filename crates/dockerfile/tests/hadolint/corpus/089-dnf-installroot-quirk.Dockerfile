FROM fedora:40 AS rootfs
RUN dnf -y --installroot /mnt/rootfs --releasever 40 install coreutils-9.4 \
    && dnf --installroot /mnt/rootfs clean all

FROM scratch
COPY --from=rootfs /mnt/rootfs/ /
