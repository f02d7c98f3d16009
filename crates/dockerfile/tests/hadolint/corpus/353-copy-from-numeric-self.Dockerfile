FROM golang:1.22 AS build
WORKDIR /src
COPY . .
COPY --from=0 /src/go.mod /tmp/go.mod
RUN go build ./...
