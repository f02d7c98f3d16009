FROM nginx:1.25
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN cat /etc/nginx/nginx.conf | sed 's/worker_processes  1/worker_processes auto/' > /etc/nginx/nginx.conf
