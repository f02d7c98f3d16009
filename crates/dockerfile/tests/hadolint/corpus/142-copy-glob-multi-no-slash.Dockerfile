FROM node:20-alpine
WORKDIR /app
COPY package.json yarn.lock .npmrc /app
RUN yarn install --frozen-lockfile && yarn cache clean
