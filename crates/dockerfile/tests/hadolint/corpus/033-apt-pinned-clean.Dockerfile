FROM debian:12.5-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates=20230311 \
        curl=7.88.1-10+deb12u5 \
        nginx/bookworm-backports \
        ./vendor/custom-agent_1.2.3_amd64.deb \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
