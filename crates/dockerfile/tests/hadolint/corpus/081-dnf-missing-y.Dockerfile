FROM fedora:39
RUN dnf install python3-3.12.2 \
    && dnf clean all
