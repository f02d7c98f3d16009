FROM debian:bookworm-slim
RUN apt-get update \
    && time apt-get install -y --no-install-recommends gcc \
    && rm -rf /var/lib/apt/lists/*
