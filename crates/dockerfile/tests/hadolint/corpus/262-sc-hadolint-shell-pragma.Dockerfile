# hadolint shell=/bin/bash
FROM debian:bookworm-slim
RUN [[ -e /etc/debian_version ]] && echo "debian $(< /etc/debian_version)"
RUN echo "base=${BASH_VERSION:-none}"
