FROM redis:7.2-alpine
COPY redis.conf /usr/local/etc/redis/redis.conf
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
ONBUILD CMD redis-server --appendonly yes
