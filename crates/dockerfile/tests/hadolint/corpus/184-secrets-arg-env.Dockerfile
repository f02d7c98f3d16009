FROM node:20-alpine
ARG NPM_TOKEN
ARG GITHUB_TOKEN
ENV DB_PASSWORD=changeme
WORKDIR /app
COPY .npmrc package.json package-lock.json ./
RUN npm ci && rm -f .npmrc
