FROM debian:bookworm-slim
RUN apt-get update \
    # networking tools
    && apt-get install -y --no-install-recommends \
        curl \
        iproute2=6.1.0-3 \
    # editors

        nano=7.2-1 \
    && rm -rf /var/lib/apt/lists/*
