FROM ubuntu:22.04
SHELL /bin/bash -o pipefail -c
RUN curl -fsSL https://example.com/install.sh | bash
