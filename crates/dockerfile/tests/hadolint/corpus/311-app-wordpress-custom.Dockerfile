FROM wordpress:6.4-php8.2-apache
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libzip-dev=1.7.3-1+b1; \
    docker-php-ext-install zip; \
    rm -rf /var/lib/apt/lists/*
RUN pecl install redis-6.0.2 && docker-php-ext-enable redis
COPY --chown=www-data:www-data wp-content/ /var/www/html/wp-content/
ENV WORDPRESS_DB_PASSWORD_FILE=/run/secrets/db_password
