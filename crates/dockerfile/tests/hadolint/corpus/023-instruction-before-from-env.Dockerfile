# global settings
ENV TZ=UTC
ARG VERSION=1.4.2
FROM alpine:3.19
RUN apk add --no-cache tzdata=2024a-r0
