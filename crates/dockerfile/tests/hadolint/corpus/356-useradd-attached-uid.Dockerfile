FROM debian:bookworm-slim
RUN useradd -u100000 -m builder \
    && useradd -m -u 10000 runner
USER 10000
