FROM registry.access.redhat.com/ubi9/ubi-minimal:9.3
RUN microdnf -y install shadow-utils-4.9-8.el9 \
    && dnf clean all
