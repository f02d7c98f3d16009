# syntax=docker/dockerfile:1
FROM debian:bookworm-slim AS hugo
ARG HUGO_VERSION=0.124.1
ADD --checksum=sha256:4c1a3b5e8d2f6a7b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b \
    https://github.com/gohugoio/hugo/releases/download/v${HUGO_VERSION}/hugo_extended_${HUGO_VERSION}_linux-amd64.tar.gz /tmp/hugo.tgz
RUN tar -xzf /tmp/hugo.tgz -C /usr/local/bin hugo
WORKDIR /site
COPY . .
RUN hugo --minify

FROM nginx:1.25-alpine
COPY --from=hugo /site/public /usr/share/nginx/html
