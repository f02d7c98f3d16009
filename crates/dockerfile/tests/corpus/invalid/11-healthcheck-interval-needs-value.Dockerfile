FROM nginx:1.25-alpine
HEALTHCHECK --interval 30s CMD wget -qO- http://localhost/ || exit 1
