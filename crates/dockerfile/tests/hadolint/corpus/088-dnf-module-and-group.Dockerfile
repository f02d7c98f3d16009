FROM rockylinux:9.3
RUN dnf -y module install postgresql:15/server \
    && dnf -y group install "Development Tools" \
    && dnf clean all
