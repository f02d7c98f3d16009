FROM node:20-alpine
WORKDIR /app
RUN npm install --global git+https://github.com/example/cli.git#v2.1.0 \
    && npm install https://registry.example.com/pkg/-/pkg-1.0.0.tgz
