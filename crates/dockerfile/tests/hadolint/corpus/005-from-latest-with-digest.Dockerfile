# Pinned by digest, the tag is only informative
FROM alpine:latest@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1
RUN apk add --no-cache ca-certificates=20240226-r0 tzdata=2024a-r0
USER 65534
ENTRYPOINT ["/bin/sh"]
