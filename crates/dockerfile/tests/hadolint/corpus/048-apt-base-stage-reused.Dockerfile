FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y --no-install-recommends libssl3=3.0.11-1~deb12u2

FROM base AS build
COPY . /src
RUN make -C /src

FROM base
COPY --from=build /src/out /app
