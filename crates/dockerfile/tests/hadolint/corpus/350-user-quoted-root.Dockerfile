FROM alpine:3.19
RUN adduser -D -u 1000 app
USER "root"
