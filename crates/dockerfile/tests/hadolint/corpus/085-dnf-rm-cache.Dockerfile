FROM fedora:40
RUN dnf -y install --setopt=install_weak_deps=False golang-1.22.1 \
    && rm -rf /var/cache/dnf
