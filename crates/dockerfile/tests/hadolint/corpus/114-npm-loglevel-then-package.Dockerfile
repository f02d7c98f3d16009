FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm --loglevel warn install express
