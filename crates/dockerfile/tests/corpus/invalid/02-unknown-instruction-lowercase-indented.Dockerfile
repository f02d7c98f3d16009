from node:20-alpine
workdir /app
  cpoy package.json .
run npm ci
