FROM python:3.12-slim
ARG APP_DIR=/srv/app
ENV HOME=/home/app
WORKDIR $HOME
WORKDIR ${APP_DIR}
WORKDIR "/var/lib/app data"
WORKDIR /srv/app/current
