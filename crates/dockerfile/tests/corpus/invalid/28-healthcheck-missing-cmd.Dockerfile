FROM nginx:1.25-alpine
HEALTHCHECK --interval=30s --timeout=5s curl -f http://localhost/ || exit 1
