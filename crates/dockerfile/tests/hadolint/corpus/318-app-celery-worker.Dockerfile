FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1
WORKDIR /code
COPY requirements.txt /code/
RUN pip install --upgrade pip && pip install -r requirements.txt
COPY . /code/
RUN adduser --disabled-password --gecos '' worker
USER worker
CMD ["celery", "-A", "proj", "worker", "--loglevel=info"]
