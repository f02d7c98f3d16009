FROM debian:12
RUN apt-get update \
    && command apt-get install -y --no-install-recommends jq=1.6-2.1 \
    && rm -rf /var/lib/apt/lists/*
