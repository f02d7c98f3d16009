FROM debian:bookworm-slim
# hadolint ignore=DL3008,DL3015
RUN apt-get update \
    && apt-get install -y \
        build-essential \
        pkg-config \
    && rm -rf /var/lib/apt/lists/*
