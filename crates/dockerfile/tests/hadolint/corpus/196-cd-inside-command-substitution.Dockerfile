FROM node:20-alpine
COPY . /opt/app
RUN ROOT="$(cd /opt/app && pwd -P)" \
    && echo "app root is ${ROOT}"
