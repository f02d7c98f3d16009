FROM python:3.12-alpine
COPY requirements.txt /tmp/requirements.txt
RUN apk add --no-cache --virtual .build-deps gcc=13.2.1_git20231014-r0 musl-dev=1.2.4_git20230717-r4 libffi-dev \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && apk del .build-deps
