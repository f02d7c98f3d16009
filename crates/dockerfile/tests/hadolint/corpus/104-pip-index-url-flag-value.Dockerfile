FROM python:3.10-slim
ARG PIP_INDEX=https://pypi.example.com/simple
RUN pip install --no-cache-dir --index-url "$PIP_INDEX" --trusted-host pypi.example.com internal-sdk==4.2.0
