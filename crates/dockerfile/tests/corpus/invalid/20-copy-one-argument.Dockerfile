FROM python:3.12-slim
WORKDIR /app
COPY --chown=app:app requirements.txt
RUN pip install -r requirements.txt
