FROM debian:bookworm-slim
RUN mkdir -p -m 0700 /var/lib/app/secrets \
    && chown -R nobody /var/lib/app
USER nobody
