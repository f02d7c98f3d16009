FROM nginx:1.25-alpine
COPY templates/ /etc/nginx/templates/
RUN for tpl in $(find /etc/nginx/templates -name "*.conf.template"); do \
      cp "$tpl" /etc/nginx/conf.d/; \
    done
