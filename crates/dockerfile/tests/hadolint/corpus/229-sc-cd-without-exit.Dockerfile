FROM node:20-alpine
COPY . /src
RUN cd /src/frontend; npm ci; npm run build
WORKDIR /src
