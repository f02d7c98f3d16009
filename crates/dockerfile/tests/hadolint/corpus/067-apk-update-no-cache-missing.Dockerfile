FROM alpine:3.18
RUN apk update && apk add nginx=1.24.0-r7 \
    && rm -rf /var/cache/apk/*
COPY default.conf /etc/nginx/http.d/default.conf
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
