FROM registry.access.redhat.com/ubi9/ubi-minimal:9.3
RUN microdnf install java-17-openjdk-headless-17.0.10.0.7 \
    && microdnf clean all
USER 1001
