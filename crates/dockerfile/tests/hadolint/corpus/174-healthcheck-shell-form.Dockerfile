FROM python:3.12-slim
WORKDIR /app
COPY . .
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD curl -fsS http://localhost:8000/health || exit 1
CMD ["python", "-m", "http.server", "8000"]
