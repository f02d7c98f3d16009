FROM node:20-alpine
WORKDIR /usr/src/app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev \
    && npm install --no-save pm2@5.3.1 @sentry/cli@2.31.0 ./vendor/local-plugin \
    && npm install \
    && npm i lodash
CMD ["npx", "pm2-runtime", "index.js"]
