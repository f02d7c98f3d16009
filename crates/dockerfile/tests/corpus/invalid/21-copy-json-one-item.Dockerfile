FROM nginx:1.25
COPY ["nginx.conf"]
