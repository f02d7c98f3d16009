FROM alpine:3.19
RUN set -- --no-cache git=2.43.0-r0 && apk add $@
CMD ["git", "--version"]
