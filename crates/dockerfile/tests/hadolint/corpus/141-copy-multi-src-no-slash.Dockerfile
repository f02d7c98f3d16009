FROM nginx:1.25-alpine
COPY nginx.conf mime.types /etc/nginx
COPY index.html /usr/share/nginx/html/index.html
