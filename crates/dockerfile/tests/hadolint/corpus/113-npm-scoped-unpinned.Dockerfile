FROM node:18-bullseye
RUN npm install --global @angular/cli @nestjs/cli@10.3.2
WORKDIR /workspace
