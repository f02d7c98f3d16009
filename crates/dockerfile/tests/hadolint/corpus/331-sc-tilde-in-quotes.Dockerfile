FROM node:20-alpine
USER node
RUN mkdir -p "~/.npm-global" \
    && npm config set prefix "~/.npm-global"
