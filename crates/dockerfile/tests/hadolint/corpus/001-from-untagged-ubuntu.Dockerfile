FROM ubuntu
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20240203 \
    && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
