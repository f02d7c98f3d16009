FROM alpine:3.19 AS build
USER 0
RUN apk add --no-cache make=4.4.1-r2

FROM alpine:3.19
USER 0:0
