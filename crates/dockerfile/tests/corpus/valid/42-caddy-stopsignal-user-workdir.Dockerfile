FROM caddy:2.7-builder AS builder
RUN xcaddy build --with github.com/caddy-dns/cloudflare

FROM caddy:2.7
COPY --from=builder /usr/bin/caddy /usr/bin/caddy
COPY Caddyfile /etc/caddy/Caddyfile
WORKDIR /srv
USER 1000
STOPSIGNAL SIGTERM
EXPOSE 80 443 443/udp
