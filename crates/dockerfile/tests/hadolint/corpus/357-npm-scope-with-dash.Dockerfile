FROM node:20-alpine
RUN npm install -g @my-org/cli@2.0.0 \
    && npm install -g @vue/cli@5.0.8
RUN npm install --save-dev @my-org/eslint-config
WORKDIR /app
