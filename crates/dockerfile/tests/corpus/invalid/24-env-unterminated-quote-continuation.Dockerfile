FROM node:20-alpine
ENV APP_NAME=shop \
    APP_DESC="Online shop \
    APP_PORT=8080
CMD ["node", "index.js"]
