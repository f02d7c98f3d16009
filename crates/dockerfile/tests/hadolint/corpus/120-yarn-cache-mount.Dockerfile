# syntax=docker/dockerfile:1
FROM node:20-alpine
WORKDIR /app
COPY . .
RUN --mount=type=cache,target=/usr/local/share/.cache/yarn \
    yarn install --immutable && yarn build
