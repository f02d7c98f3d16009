# syntax=docker/dockerfile:1.4
FROM nginx:1.25-alpine
COPY <<EOF /etc/nginx/conf.d/default.conf
server {
    listen 80;
    location / { root /usr/share/nginx/html; }
}
EOF

COPY site/ /usr/share/nginx/html/
