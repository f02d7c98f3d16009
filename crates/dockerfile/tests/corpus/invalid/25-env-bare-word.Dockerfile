FROM node:20-alpine
ENV NODE_ENV=production PORT 3000
CMD ["node", "server.js"]
