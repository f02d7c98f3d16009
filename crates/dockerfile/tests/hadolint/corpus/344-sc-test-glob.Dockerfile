FROM python:3.12-slim
COPY dist/ /dist/
RUN if [ -f /dist/*.whl ]; then pip install --no-cache-dir /dist/*.whl; fi
