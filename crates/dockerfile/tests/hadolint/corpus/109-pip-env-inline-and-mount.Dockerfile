# syntax=docker/dockerfile:1
FROM python:3.12-slim
RUN PIP_NO_CACHE_DIR=true pip install "fastapi==0.110.0"
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install "uvicorn[standard]==0.29.0"
