FROM ubuntu:22.04 AS base
RUN useradd -u 1000 app

FROM scratch
COPY --from=base "/" /
USER 1000
