FROM debian:bookworm-slim
RUN ls /usr/lib/x86_64-linux-gnu | grep -q libssl \
    || echo "openssl missing"
