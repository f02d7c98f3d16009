FROM alpine:3.19
ARG APP_VERSION=1.2.3
RUN TAG=$(echo "v${APP_VERSION}") \
    && echo "$TAG" > /VERSION
