# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
RUN <<-EOF
	set -e
	apt-get update
	apt-get install -y --no-install-recommends curl
		rm -rf /var/lib/apt/lists/*
	EOF
CMD ["curl", "--version"]
