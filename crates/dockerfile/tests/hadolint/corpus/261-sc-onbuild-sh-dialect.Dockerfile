FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN [[ -d /etc ]] && echo "bash here"
ONBUILD RUN [[ -f /app/Makefile ]] && make -C /app
