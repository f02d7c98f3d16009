FROM python:3.12-slim
ENV PIP_NO_CACHE_DIR=false
RUN pip install --no-cache-dir=1 black==24.3.0
