FROM debian:buster-slim
# The attached -tbuster form swallows the next word as its value
RUN apt-get update \
    && apt-get install -y --no-install-recommends -tbuster-backports wireguard-tools \
    && rm -rf /var/lib/apt/lists/*
