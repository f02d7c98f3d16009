FROM alpine:3.19 AS fetch
RUN wget -q -O /tmp/tool https://example.com/tool

FROM debian:bookworm-slim
COPY --from=fetch /tmp/tool /usr/local/bin/tool
RUN curl --version
