FROM busybox:1.36-musl
RUN adduser -D static
USER static
WORKDIR /home/static
COPY httpd.conf .
COPY public/ .
CMD ["busybox", "httpd", "-f", "-v", "-p", "3000", "-c", "httpd.conf"]
