FROM node:20-alpine
HEALTHCHECK CMD ["node", "-e", "process.exit(0)"]
HEALTHCHECK NONE
HEALTHCHECK --interval=5s CMD ["node", "/app/health.js"]
ONBUILD HEALTHCHECK CMD ["true"]
