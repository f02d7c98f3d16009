# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
WORKDIR /opt
RUN <<EOF
cd /opt
curl -fsSL https://example.com/install.sh | sh
EOF
