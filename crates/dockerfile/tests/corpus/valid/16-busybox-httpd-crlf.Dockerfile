FROM busybox:1.36
# A tiny HTTP server
WORKDIR /www
COPY index.html .
EXPOSE 8080
CMD ["httpd", "-f", "-v", "-p", "8080"]
