FROM node:20-alpine AS app
WORKDIR /app
COPY . .
RUN npm ci && npm run build
COPY --from=app /app/dist /srv/www
