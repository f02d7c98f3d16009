FROM debian:bookworm-slim AS build
USER root
RUN apt-get update && apt-get install -y --no-install-recommends make=4.3-4.1 && rm -rf /var/lib/apt/lists/*

FROM gcr.io/distroless/base-debian12:nonroot
USER 65532
COPY --from=build /usr/bin/make /usr/bin/make
