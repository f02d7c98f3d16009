FROM python:3.12-slim
RUN ["pip", "install", "flask"]
RUN ["useradd", "-u", "2000000", "web"]
RUN ["sh", "-c", "echo $HOME"]
USER web
