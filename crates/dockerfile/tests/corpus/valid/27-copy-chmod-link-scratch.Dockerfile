# syntax=docker/dockerfile:1
FROM alpine:3.19 AS fetch
ADD --chmod=755 https://github.com/krallin/tini/releases/download/v0.19.0/tini-static /tini

FROM scratch
COPY --link --from=fetch /tini /tini
COPY --link --chmod=0644 config.toml /etc/app/config.toml
COPY --link --chown=1000:1000 --chmod=755 bin/ /usr/local/bin/
ENTRYPOINT ["/tini", "--"]
