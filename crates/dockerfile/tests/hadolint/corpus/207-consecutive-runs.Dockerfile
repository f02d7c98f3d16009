FROM ubuntu:22.04
RUN mkdir -p /app/logs
RUN chmod 755 /app
RUN touch /app/logs/app.log
COPY . /app
