FROM golang:1.22 AS build
WORKDIR /src
COPY . .
CMD ["go", "test", "./..."]
ENTRYPOINT ["go"]

FROM alpine:3.19
COPY --from=build /src/app /app
ENTRYPOINT ["/app"]
CMD ["--help"]
