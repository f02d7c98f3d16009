FROM debian:bookworm-slim AS unpack
COPY vendor/toolchain.tar.bz2 /tmp/
RUN mkdir -p /toolchain && tar -xjf /tmp/toolchain.tar.bz2 -C /toolchain

FROM debian:bookworm-slim
COPY --from=unpack /toolchain /opt/toolchain
