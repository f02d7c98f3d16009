FROM node:20-alpine AS dev
HEALTHCHECK CMD ["node", "healthcheck.js"]
WORKDIR /app

FROM node:20-alpine
WORKDIR /app
HEALTHCHECK --interval=1m CMD ["node", "healthcheck.js"]
