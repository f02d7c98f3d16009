FROM debian:bookworm-slim AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN dpkg -l | grep -c ii

FROM base
RUN dpkg -l | wc -l
