FROM debian:bookworm-slim AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN [[ -f /etc/debian_version ]] && cat /etc/debian_version

FROM base AS final
RUN [[ -d /usr/share/doc ]] && ls /usr/share/doc | head -n 1
