FROM node:20-alpine builder
WORKDIR /app
COPY . .
RUN npm ci && npm run build
