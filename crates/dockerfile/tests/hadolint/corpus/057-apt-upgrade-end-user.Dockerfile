FROM debian:bookworm-slim
RUN apt update \
    && apt full-upgrade -y \
    && rm -rf /var/lib/apt/lists/*
USER 1000
