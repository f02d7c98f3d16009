FROM debian:bookworm-slim
RUN groupadd -g 1000001 app \
    && useradd -u 1000001 -g app -m -s /bin/bash app
USER 1000001
