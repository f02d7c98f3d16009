# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.4.0 AS xx
FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
COPY --from=xx / /
ARG TARGETPLATFORM
RUN xx-apk add --no-cache gcc musl-dev
WORKDIR /src
RUN --mount=type=bind,target=. \
    --mount=type=cache,target=/root/.cache \
    xx-go build -o /out/app . && xx-verify /out/app

FROM alpine:3.19
COPY --from=build /out/app /usr/bin/app
ENTRYPOINT ["app"]
