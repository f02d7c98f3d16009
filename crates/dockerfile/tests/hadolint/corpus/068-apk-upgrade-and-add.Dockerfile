FROM alpine:3.19
RUN apk upgrade --available \
    && apk add --update openssl
