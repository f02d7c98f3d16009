FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends zsh=5.9-4+b2 \
    && rm -rf /var/lib/apt/lists/*
SHELL ["/bin/zsh", "-c"]
RUN print -P "%F{green}zsh ready%f"
