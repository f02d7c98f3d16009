FROM python:3.12-slim
COPY .bashrc ~/.bashrc
COPY settings.ini ./config/settings.ini
