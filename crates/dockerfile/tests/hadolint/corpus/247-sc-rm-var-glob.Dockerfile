FROM debian:bookworm-slim
RUN CACHE_DIR=/var/cache/app && mkdir -p "$CACHE_DIR" \
    && rm -rf "$CACHE_DIR/"*
