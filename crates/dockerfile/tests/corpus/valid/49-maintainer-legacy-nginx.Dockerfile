FROM debian:bullseye
MAINTAINER Jane Doe <jane.doe@example.org>
ENV DEBIAN_FRONTEND noninteractive
RUN apt-get update && apt-get install -y nginx && rm -rf /var/lib/apt/lists/*
ADD --chown=www-data:www-data nginx.conf /etc/nginx/nginx.conf
EXPOSE 80
CMD nginx -g "daemon off;"
