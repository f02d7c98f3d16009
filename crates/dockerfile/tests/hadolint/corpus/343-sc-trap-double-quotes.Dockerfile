FROM alpine:3.19
RUN TMP=$(mktemp -d) && trap "rm -rf $TMP" EXIT \
    && wget -q -P "$TMP" https://example.com/file.tgz
