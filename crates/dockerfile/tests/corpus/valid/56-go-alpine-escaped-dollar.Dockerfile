FROM golang:1.22-alpine AS builder
RUN apk add --no-cache git
WORKDIR /go/src/app
COPY . .
RUN go install -v ./...

FROM alpine:3.19
RUN addgroup -S app && adduser -S -G app app
COPY --from=builder /go/bin/app /usr/local/bin/app
USER app:app
ENV PS1="\$ "
CMD ["app"]
