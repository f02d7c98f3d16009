FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV LANG=C.UTF-8
RUN if [[ -d /etc/apt ]]; then echo "debian-like"; fi
