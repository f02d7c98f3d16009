FROM node:20-alpine
RUN npm install -g pnpm
RUN pnpm --version
USER node
# hadolint global ignore=DL3016,DL3059,DL3066
