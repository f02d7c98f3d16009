FROM alpine:3.19
RUN apk add --no-cache curl \
    && curl -fsSL https://example.com/health | grep ok
CMD ["sh"]
