FROM node:20-alpine
WORKDIR /app
COPY . .
RUN find /app/node_modules -name "*.md" | xargs rm -f
