FROM node:20-alpine AS assets
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM python:3.12-slim AS app
WORKDIR /srv
COPY --from=assets /app/dist ./static
