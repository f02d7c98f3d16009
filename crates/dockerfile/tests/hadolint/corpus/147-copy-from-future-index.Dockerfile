FROM alpine:3.19
COPY --from=1 /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/

FROM debian:bookworm-slim
RUN echo "second stage"
