FROM ubuntu:24.04
RUN --mount=type=cache,target=/var/lib/apt/lists \
    apt-get update && apt-get install -y --no-install-recommends git=1:2.43.0-1ubuntu7
