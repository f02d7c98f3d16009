FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get -o APT::Install-Recommends=false -y install graphviz=2.42.2-7+b3 \
    && rm -rf /var/lib/apt/lists/*
