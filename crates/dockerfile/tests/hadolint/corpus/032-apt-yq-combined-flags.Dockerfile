FROM ubuntu:22.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -yq build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
