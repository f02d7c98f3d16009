FROM debian:bullseye
RUN apt-get update \
    && apt-get install -y --no-install-recommends --target-release=bullseye-backports golang \
    && rm -rf /var/lib/apt/lists/*
