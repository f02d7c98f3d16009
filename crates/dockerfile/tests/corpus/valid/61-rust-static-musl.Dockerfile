FROM --platform=$BUILDPLATFORM rust:1.77-alpine AS build.musl
ARG TARGETPLATFORM
RUN apk add --no-cache musl-dev
WORKDIR /usr/src/tool
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/src/tool/target \
    cargo build --release && cp target/release/tool /tool

FROM scratch AS release
COPY --from=build.musl /tool /tool
USER 10001
ENTRYPOINT ["/tool"]
CMD ["--help"]
