FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends wget=1.21.3-1+b2 ca-certificates=20230311 \
    && rm -rf /var/lib/apt/lists/*
RUN wget https://github.com/mikefarah/yq/releases/download/v4.42.1/yq_linux_amd64 -O /usr/local/bin/yq \
    && chmod +x /usr/local/bin/yq
