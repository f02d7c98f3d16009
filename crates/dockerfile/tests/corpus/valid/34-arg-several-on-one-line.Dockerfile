# syntax=docker/dockerfile:1
ARG VERSION=0.0.0-dev COMMIT BUILD_DATE
FROM golang:1.22-alpine AS build
ARG VERSION COMMIT BUILD_DATE
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=netrc,target=/root/.netrc go mod download
RUN go build -ldflags "-X main.version=${VERSION} -X main.commit=${COMMIT:-unknown}" -o /out/cli .

FROM alpine:3.19
ARG VERSION COMMIT BUILD_DATE
LABEL org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT:-unknown} \
      org.opencontainers.image.created=${BUILD_DATE}
COPY --from=build /out/cli /usr/local/bin/cli
ENTRYPOINT ["cli"]
