FROM python:3.12-slim
COPY dist/ /tmp/dist/
RUN WHEEL="$(ls -t /tmp/dist/*.whl | head -n 1)" \
    && pip install --no-cache-dir "$WHEEL"
