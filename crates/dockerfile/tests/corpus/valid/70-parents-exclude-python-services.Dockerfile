# syntax=docker/dockerfile:1.7-labs
FROM python:3.12-slim
WORKDIR /app
COPY --parents --chown=1000:1000 ./services/*/requirements.txt ./
RUN for f in services/*/requirements.txt; do pip install --no-cache-dir -r "$f"; done
COPY --exclude=*.pyc --exclude=tests/ --link . .
ADD --exclude=*.md --link docs.tar.gz /usr/share/doc/app/
CMD ["python", "-m", "services"]
