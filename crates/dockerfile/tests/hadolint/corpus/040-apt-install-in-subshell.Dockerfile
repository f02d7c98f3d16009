FROM ubuntu:22.04
RUN apt-get update \
    && echo "installed: $(apt-get install -y --no-install-recommends curl | tail -n 1)" \
    && rm -rf /var/lib/apt/lists/*
