FROM node:20-alpine
USER root
RUN apk add --no-cache tini=0.19.0-r2
USER node
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["node", "server.js"]
