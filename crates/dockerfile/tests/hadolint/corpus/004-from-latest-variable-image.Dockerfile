ARG IMAGE=nginx
FROM $IMAGE:latest
COPY dist/ /usr/share/nginx/html/
EXPOSE 80
