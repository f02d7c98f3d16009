FROM python:3.12-slim
ONBUILD MAINTAINER build-team@example.com
ONBUILD ONBUILD RUN echo nested
ONBUILD COPY requirements.txt /tmp/
ONBUILD RUN pip install --no-cache-dir -r /tmp/requirements.txt
