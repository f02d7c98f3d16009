FROM mysql:8.3
ENV MYSQL_DATABASE=app
COPY schema.sql /docker-entrypoint-initdb.d/
VOLUME /var/lib/mysql
VOLUME ["/var/log/mysql", "/etc/mysql/conf.d"]
VOLUME /backups /exports
HEALTHCHECK NONE
EXPOSE 3306 33060
