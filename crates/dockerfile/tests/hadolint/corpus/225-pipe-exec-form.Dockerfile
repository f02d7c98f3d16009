FROM debian:bookworm-slim
RUN ["/bin/bash", "-c", "set -o pipefail && dpkg -l | grep libc6"]
CMD ["bash"]
