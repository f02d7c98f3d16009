FROM debian:bookworm
RUN apt-get update -qqq && apt-get install -qqq --no-install-recommends less=590-2 \
    && rm -rf /var/lib/apt/lists/*
