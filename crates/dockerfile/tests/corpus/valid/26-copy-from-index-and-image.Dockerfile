FROM golang:1.22-alpine
WORKDIR /src
COPY . .
RUN go build -o /bin/app .

FROM alpine:3.19
COPY --from=0 /bin/app /usr/local/bin/app
COPY --from=nginx:1.25-alpine /etc/nginx/mime.types /etc/mime.types
COPY --from=docker.io/library/busybox:1.36 /bin/busybox /bin/busybox
CMD ["app"]
