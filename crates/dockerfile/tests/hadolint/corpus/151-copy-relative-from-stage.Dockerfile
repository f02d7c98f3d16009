FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o app .

FROM alpine:3.19
COPY --from=build /src/app bin/app
CMD ["bin/app"]
