FROM python:3.12-slim
WORKDIR /app
ONBUILD COPY requirements.txt /app/
ONBUILD RUN pip install --no-cache-dir -r /app/requirements.txt
ONBUILD ADD . /app
CMD ["python", "main.py"]
