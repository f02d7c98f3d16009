FROM rust:1.77 AS Builder
WORKDIR /usr/src/app
COPY . .
RUN cargo build --release

FROM debian:bookworm-slim
COPY --from=builder /usr/src/app/target/release/app /usr/local/bin/
COPY --from="Builder" /usr/src/app/config /etc/app/
