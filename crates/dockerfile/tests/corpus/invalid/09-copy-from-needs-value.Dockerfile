FROM rust:1.77 AS builder
WORKDIR /app
COPY . .
RUN cargo build --release

FROM debian:bookworm-slim
COPY --from builder /app/target/release/app /usr/local/bin/app
CMD ["app"]
