FROM alpine:3.19
ARG BASE_PORT=8000
RUN PORT=$(expr "$BASE_PORT" + 80) \
    && echo "listen $PORT" > /etc/listen.conf
