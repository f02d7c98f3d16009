# syntax=docker/dockerfile:1
FROM ubuntu:22.04
RUN <<EOF bash
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends ca-certificates=20230311ubuntu0.22.04.1
rm -rf /var/lib/apt/lists/*
EOF
