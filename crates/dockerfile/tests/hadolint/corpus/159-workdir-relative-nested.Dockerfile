FROM python:3.12-slim
WORKDIR /opt
WORKDIR service/api
COPY . .
WORKDIR "./tests"
CMD ["pytest"]
