FROM python:3.9-alpine
RUN python3 -m pip install poetry==1.7.1 \
    && poetry config virtualenvs.create false
