FROM ubuntu:22.04
ADD --chown=www-data:www-data --link site.tar.gz /var/www/
ADD --link https://example.com/files/robots.txt /var/www/html/robots.txt
ADD ["config files/app.conf", "/etc/app/app.conf"]
RUN ls -la /var/www
