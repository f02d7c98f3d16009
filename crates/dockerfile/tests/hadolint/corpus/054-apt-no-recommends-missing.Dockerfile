FROM ubuntu:22.04
RUN apt-get update && apt-get -y install \
        nginx=1.18.0-6ubuntu14.4 \
        supervisor=4.2.1-1ubuntu1 \
    && rm -rf /var/lib/apt/lists/*
COPY nginx.conf /etc/nginx/nginx.conf
COPY supervisord.conf /etc/supervisor/conf.d/app.conf
CMD ["/usr/bin/supervisord", "-n"]
