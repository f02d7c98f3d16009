FROM debian:bookworm-slim
SHELL ["/bin/bash", "-c", "set -o pipefail && eval \"$0\""]
RUN dpkg -l | grep libc6
