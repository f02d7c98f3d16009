FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends -- tar=1.34+dfsg-1.2+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
