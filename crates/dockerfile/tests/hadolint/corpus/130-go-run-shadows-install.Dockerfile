FROM golang:1.22
WORKDIR /src
COPY . .
RUN go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.26.0 generate \
    && go install github.com/air-verse/air
