FROM python:3.12-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m venv /venv \
    && source /venv/bin/activate \
    && pip install --no-cache-dir -r /tmp/requirements.txt
