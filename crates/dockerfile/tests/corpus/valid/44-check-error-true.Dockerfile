# syntax=docker/dockerfile:1
# check=error=true
FROM python:3.12-alpine AS app
WORKDIR /app
COPY . .
CMD ["python", "-m", "app"]
