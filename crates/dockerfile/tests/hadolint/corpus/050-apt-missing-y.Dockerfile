FROM ubuntu:22.04
RUN apt-get update \
    && apt-get install --no-install-recommends tzdata=2024a-0ubuntu0.22.04 \
    && rm -rf /var/lib/apt/lists/*
