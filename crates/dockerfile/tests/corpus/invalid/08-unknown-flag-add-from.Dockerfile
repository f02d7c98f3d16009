FROM alpine:3.19 AS fetch
RUN wget -O /tmp/tool.tgz https://example.com/tool.tgz

FROM alpine:3.19
ADD --from=fetch /tmp/tool.tgz /opt/
