FROM --platform=linux/amd64 node:20-bullseye-slim
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile && yarn cache clean
COPY . .
CMD ["yarn", "start"]
