FROM golang:1.20-alpine
WORKDIR /src
RUN go get -u github.com/swaggo/swag/cmd/swag \
    && swag init
