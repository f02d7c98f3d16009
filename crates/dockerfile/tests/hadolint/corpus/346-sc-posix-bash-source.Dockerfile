FROM debian:bookworm-slim
RUN set -- a b c && echo "${BASH_SOURCE[0]:-none}" > /tmp/src
CMD ["cat", "/tmp/src"]
