FROM nginx:1.25-alpine
COPY site/ /usr/share/nginx/html/
RUN cd /usr/share/nginx/html && chmod 644 *.html
