FROM ubuntu:24.04
ARG EXTRA_PACKAGES="htop jq"
ARG PG_MAJOR=16
RUN apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}=${PG_MAJOR}.2-1" $EXTRA_PACKAGES \
    && rm -rf /var/lib/apt/lists/*
