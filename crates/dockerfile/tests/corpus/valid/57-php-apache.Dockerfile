FROM php:8.3-apache
MAINTAINER "Web Team <web@example.com>"
RUN docker-php-ext-install pdo_mysql opcache
RUN a2enmod rewrite headers
COPY --chown=www-data:www-data src/ /var/www/html/
ENV APACHE_DOCUMENT_ROOT=/var/www/html/public
RUN sed -ri -e 's!/var/www/html!${APACHE_DOCUMENT_ROOT}!g' /etc/apache2/sites-available/*.conf
EXPOSE 80
