FROM python:3.12-slim
RUN python -m venv /venv
RUN source /venv/bin/activate && pip install --no-cache-dir -r /tmp/requirements.txt
