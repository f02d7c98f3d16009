FROM nginx:1.25
EXPOSE http
CMD ["nginx", "-g", "daemon off;"]
