FROM python:3.11-slim AS deps
RUN pip install --no-cache-dir poetry==1.8.2

FROM python:3.11-slim AS deps
COPY pyproject.toml poetry.lock /src/

FROM deps AS deps
WORKDIR /src
RUN poetry install --no-root
