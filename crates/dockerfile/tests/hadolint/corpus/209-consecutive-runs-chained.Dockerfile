FROM ubuntu:22.04
RUN mkdir -p /app/logs && chmod 755 /app
RUN touch /app/logs/app.log
ENV LOG_DIR=/app/logs
RUN echo "ready"
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc cat /root/.npmrc > /dev/null
