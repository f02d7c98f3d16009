FROM haproxy:2.9-alpine
USER root
RUN apk add --no-cache --update curl=8.5.0-r0 socat=1.8.0.0-r0
COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
RUN haproxy -c -f /usr/local/etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 80 443 8404
