FROM alpine:3.19
RUN apk add --no-cache curl jq bash
COPY healthcheck.sh /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/healthcheck.sh"]
