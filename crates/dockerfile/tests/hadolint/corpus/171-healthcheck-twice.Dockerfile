FROM nginx:1.25-alpine
HEALTHCHECK --interval=30s --timeout=3s CMD ["wget", "-q", "--spider", "http://localhost/"]
COPY site/ /usr/share/nginx/html/
HEALTHCHECK --interval=10s CMD ["wget", "-q", "--spider", "http://localhost/healthz"]
