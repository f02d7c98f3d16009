FROM rust:1.77 AS 1build
WORKDIR /app
RUN cargo build --release
