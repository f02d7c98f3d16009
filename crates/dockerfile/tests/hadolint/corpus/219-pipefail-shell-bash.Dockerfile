FROM ubuntu:22.04
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://packages.example.com/gpg.key | gpg --dearmor -o /usr/share/keyrings/example.gpg
ENV KEYRING=/usr/share/keyrings/example.gpg
RUN grep -c . /etc/passwd | tee /tmp/count
