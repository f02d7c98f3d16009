FROM alpine:3.19
COPY docker-entrypoint.sh wait-for.sh /usr/local/bin/
ENTRYPOINT ["wait-for.sh", "db:5432", "--"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["app"]
