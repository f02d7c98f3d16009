FROM debian:bookworm-slim
SHELL ["/bin/sh", "-o", "pipefail", "-c"]
RUN ls /etc | head -n 3
SHELL ["/usr/bin/bash", "-o", "pipefail", "-c"]
RUN ls /usr | head -n 3
