FROM node:20 AS build
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM nginx:1.25-alpine AS Build
COPY --from=build /app/dist /usr/share/nginx/html
