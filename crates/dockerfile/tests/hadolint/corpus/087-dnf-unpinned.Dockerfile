FROM registry.access.redhat.com/ubi9/ubi:9.3
RUN dnf -y install python3.11 python3.11-pip \
    && dnf clean all \
    && python3.11 -m pip install --no-cache-dir pipenv==2023.12.1
