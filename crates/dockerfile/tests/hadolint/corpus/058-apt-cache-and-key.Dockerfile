FROM ubuntu:22.04
RUN apt-get update \
    && apt-cache policy docker-ce \
    && apt-get install -y --no-install-recommends docker-ce-cli=5:25.0.3-1~ubuntu.22.04~jammy \
    && rm -rf /var/lib/apt/lists/*
