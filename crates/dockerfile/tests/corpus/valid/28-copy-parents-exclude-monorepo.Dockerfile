# syntax=docker/dockerfile:1.7-labs
FROM node:20 AS deps
WORKDIR /repo
COPY --parents packages/*/package.json ./
COPY package.json package-lock.json ./
RUN npm ci

FROM deps AS build
COPY --exclude=**/*.test.ts --exclude=**/node_modules . .
RUN npm run build --workspaces
