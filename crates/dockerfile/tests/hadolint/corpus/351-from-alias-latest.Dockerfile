FROM node:20-alpine AS base
WORKDIR /app
COPY package.json ./

FROM base:latest
RUN npm ci
