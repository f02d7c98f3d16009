FROM nginx:1.25
RUN nginx && sleep 1 && ps aux | grep -v grep | grep nginx
CMD ["nginx", "-g", "daemon off;"]
