FROM mongo:7.0
# The base image's healthcheck is too chatty for our CI
HEALTHCHECK NONE
COPY init/ /docker-entrypoint-initdb.d/
EXPOSE 27017
