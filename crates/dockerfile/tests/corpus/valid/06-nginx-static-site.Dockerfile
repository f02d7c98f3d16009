FROM node:20-alpine AS assets
WORKDIR /site
COPY package*.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM nginx:1.25-alpine
LABEL maintainer="web-team@example.com"
COPY nginx/default.conf /etc/nginx/conf.d/default.conf
COPY --from=assets /site/dist/ /usr/share/nginx/html/
EXPOSE 80 443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
