FROM golang:1.21 AS build
MAINTAINER ops@example.com
COPY . /go/src/app
RUN go build -o /app /go/src/app

FROM debian:bookworm-slim
MAINTAINER ops@example.com
COPY --from=build /app /app
