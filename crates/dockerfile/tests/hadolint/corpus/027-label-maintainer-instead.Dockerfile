FROM php:8.3-fpm-alpine
LABEL maintainer="Jane Doe <jane@example.com>" \
      org.opencontainers.image.title="shop-backend" \
      org.opencontainers.image.version="2.3.1"
COPY --chown=www-data:www-data . /var/www/html
USER 82
