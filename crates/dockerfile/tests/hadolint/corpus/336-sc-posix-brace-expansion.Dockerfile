FROM python:3.12-slim
RUN mkdir -p /app/{logs,tmp,data} \
    && chown -R nobody /app
WORKDIR /app
USER nobody
