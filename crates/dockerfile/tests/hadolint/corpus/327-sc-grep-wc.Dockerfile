FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN CORES=$(grep processor /proc/cpuinfo | wc -l) \
    && echo "building with ${CORES} cores"
