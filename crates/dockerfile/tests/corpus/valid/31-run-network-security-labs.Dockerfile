# syntax=docker/dockerfile:1-labs
FROM golang:1.22 AS test
WORKDIR /src
COPY --parents go.mod go.sum ./cmd/*/main.go ./
RUN go mod download
RUN --network=none go test ./...
RUN --security=insecure --network=host go test -tags=integration ./integration/...
