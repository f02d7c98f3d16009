FROM node:20-alpine AS context
WORKDIR /ctx
COPY . .

FROM node:20-alpine
WORKDIR /app
COPY --from=context /ctx/dist ./dist
CMD ["node", "dist/index.js"]
