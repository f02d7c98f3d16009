FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go install golang.org/x/tools/cmd/goimports@v0.19.0 \
    && go install ./... \
    && go build -o /out/app ./cmd/app
