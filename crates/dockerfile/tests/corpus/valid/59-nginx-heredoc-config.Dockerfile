# syntax=docker/dockerfile:1
FROM nginx:1.25-alpine
RUN cat <<EOF > /etc/nginx/conf.d/default.conf
server {
    listen 8080;
    location / {
        root /usr/share/nginx/html;
    }
}
EOF
COPY <<EOF /usr/share/nginx/html/index.html
<h1>It works</h1>
EOF
EXPOSE 8080
