# syntax=docker/dockerfile:1
FROM python:3.12-slim
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/pip <<EOF
set -e
pip install --upgrade pip
pip install uvicorn fastapi
EOF
RUN python3 <<'PY'
import sys
print("python", sys.version)
PY
COPY <<-EOF /app/main.py
	from fastapi import FastAPI
	app = FastAPI()
	EOF
CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]
