FROM golang:1.22 AS build
RUN go build -o /bin/app .

FROM alpine:3.19
COPY --form=build /bin/app /usr/local/bin/app
