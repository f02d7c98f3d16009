# syntax=docker/dockerfile:1
FROM node:20-alpine AS deps.node
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile

FROM golang:1.22-alpine AS build-go_api
WORKDIR /api
COPY api/ .
RUN go build -o /out/api .

FROM deps.node AS build_web-1.0
COPY web/ .
RUN yarn build

FROM alpine:3.19 AS final
COPY --from=build-go_api /out/api /usr/local/bin/api
COPY --from=build_web-1.0 /app/dist /srv/www
EXPOSE 8080
CMD ["api", "--static", "/srv/www"]
