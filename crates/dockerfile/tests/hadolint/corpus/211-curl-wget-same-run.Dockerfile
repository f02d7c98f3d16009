FROM alpine:3.19
RUN curl -fsSL -o /tmp/a https://example.com/a \
    && wget -q -O /tmp/b https://example.com/b
