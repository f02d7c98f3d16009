FROM debian:bookworm
RUN apt-get update -q \
    && apt-get install -q --no-install-recommends unzip=6.0-28 \
    && rm -rf /var/lib/apt/lists/*
