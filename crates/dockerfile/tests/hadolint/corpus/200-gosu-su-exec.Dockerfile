FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gosu=1.14-1+b6 \
    && rm -rf /var/lib/apt/lists/* \
    && gosu nobody true \
    && su -s /bin/sh nobody -c 'id'
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
