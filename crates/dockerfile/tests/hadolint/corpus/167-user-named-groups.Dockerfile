FROM postgres:16.2
ENV PGDATA=/var/lib/postgresql/data
COPY initdb/ /docker-entrypoint-initdb.d/
USER postgres:postgres
