FROM node:20-alpine AS base
WORKDIR /app
COPY package.json ./

FROM base AS dev
COPY . .
CMD ["npm", "run", "dev"]
