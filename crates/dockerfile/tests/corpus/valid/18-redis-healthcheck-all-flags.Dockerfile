FROM redis:7.2-alpine
COPY redis.conf /usr/local/etc/redis/redis.conf
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --start-interval=2s --retries=5 \
  CMD redis-cli ping | grep -q PONG || exit 1
EXPOSE 6379
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
