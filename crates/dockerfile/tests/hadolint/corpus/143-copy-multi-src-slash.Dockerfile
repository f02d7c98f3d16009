FROM nginx:1.25-alpine
COPY nginx.conf mime.types /etc/nginx/
COPY ["default.conf", "ssl.conf", "/etc/nginx/conf.d/"]
COPY static/ /usr/share/nginx/html
