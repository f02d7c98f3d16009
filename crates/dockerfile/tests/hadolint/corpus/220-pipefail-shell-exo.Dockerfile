FROM python:3.12-slim
SHELL ["/bin/bash", "-exo", "pipefail", "-c"]
RUN pip list --format=freeze | sort > /requirements.lock
