FROM ubuntu:22.04
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN function retry { for i in 1 2 3; do "$@" && return 0; sleep "$i"; done; return 1; } \
    && retry apt-get update \
    && rm -rf /var/lib/apt/lists/*
