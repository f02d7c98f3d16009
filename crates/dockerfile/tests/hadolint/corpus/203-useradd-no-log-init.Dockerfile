FROM debian:bookworm-slim
RUN useradd -l -u 1000001 app \
    && useradd --no-log-init --uid 2000002 worker \
    && useradd --uid 3000003 batch \
    && useradd -u 1001 web
