FROM nginx:1.25-alpine
EXPOSE 80 443 70000
CMD ["nginx", "-g", "daemon off;"]
