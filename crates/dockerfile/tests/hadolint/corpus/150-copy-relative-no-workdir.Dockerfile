FROM python:3.12-slim
COPY requirements.txt app/
COPY src ./app/src
RUN pip install --no-cache-dir -r app/requirements.txt
CMD ["python", "app/src/main.py"]
