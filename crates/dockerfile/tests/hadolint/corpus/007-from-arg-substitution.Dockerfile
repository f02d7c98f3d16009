ARG PYTHON_VERSION=3.12
ARG DISTRO=slim-bookworm
FROM python:${PYTHON_VERSION}-${DISTRO}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY . /app
RUN python -m pip install --no-cache-dir .
CMD ["python", "-m", "myservice"]
