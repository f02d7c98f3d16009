FROM golang:1.22
RUN go install honnef.co/go/tools/cmd/staticcheck@2023.1.7 \
    && go get golang.org/x/exp@none
