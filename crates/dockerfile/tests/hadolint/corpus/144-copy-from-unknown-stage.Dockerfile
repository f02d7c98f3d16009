FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o /bin/app .

FROM alpine:3.19
COPY --from=builder /bin/app /usr/local/bin/app
ENTRYPOINT ["app"]
