FROM golang:1.22
ARG VERSION=dev
RUN go build -ldflags "-X main.version=${version}" -o /usr/local/bin/app .
