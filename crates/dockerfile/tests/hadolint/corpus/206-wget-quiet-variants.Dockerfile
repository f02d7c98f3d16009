FROM alpine:3.19
RUN wget -q https://example.com/a.tar.gz \
    && wget -nv https://example.com/b.tar.gz \
    && wget --progress=dot:giga https://example.com/c.tar.gz \
    && wget -qO /tmp/d.json https://example.com/d.json \
    && wget -o /tmp/wget.log https://example.com/e.tar.gz \
    && wget --no-verbose https://example.com/f.tar.gz
