FROM node:20-alpine
RUN npm install -g typescript ts-node
WORKDIR /app
COPY . .
RUN tsc -p .
