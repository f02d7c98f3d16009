FROM python:3.12-slim
RUN pip install --no-cache-dir pipx==1.4.3 \
    && pipx install poetry \
    && pipx ensurepath
