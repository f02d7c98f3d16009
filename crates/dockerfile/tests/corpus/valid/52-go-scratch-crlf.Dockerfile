# syntax=docker/dockerfile:1
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build \
    -o /bin/hello \
    ./cmd/hello

FROM scratch
COPY --from=0 /bin/hello /bin/hello
ENTRYPOINT ["/bin/hello"]
