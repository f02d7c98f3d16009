# syntax=docker/dockerfile:1
FROM golang:1.22-alpine AS node_exporter-src
ADD --keep-git-dir=true https://github.com/prometheus/node_exporter.git#v1.7.0 /go/src/node_exporter
WORKDIR /go/src/node_exporter
RUN apk add --no-cache git make && make build

FROM alpine:3.19
COPY --from=node_exporter-src --link /go/src/node_exporter/node_exporter /bin/node_exporter
EXPOSE 9100
USER nobody
ENTRYPOINT ["/bin/node_exporter"]
