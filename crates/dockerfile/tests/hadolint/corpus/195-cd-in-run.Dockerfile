FROM golang:1.22
COPY . /go/src/github.com/example/app
RUN cd /go/src/github.com/example/app && go build -o /usr/local/bin/app .
CMD ["app"]
