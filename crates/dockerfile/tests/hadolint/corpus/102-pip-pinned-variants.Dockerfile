FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt constraints.txt ./
COPY dist/ ./dist/
RUN pip install --no-cache-dir \
        "django>=4.2,<5.0" \
        celery==5.3.6 \
        "git+https://github.com/example/toolkit.git@v1.4.0" \
        ./dist/mylib-0.3.0-py3-none-any.whl \
        https://files.example.com/vendor/pkg-1.0.tar.gz
