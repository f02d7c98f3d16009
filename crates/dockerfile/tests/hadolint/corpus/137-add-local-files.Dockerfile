FROM python:3.12-slim
ADD requirements.txt /app/
ADD src /app/src
WORKDIR /app
RUN pip install --no-cache-dir -r requirements.txt
CMD ["python", "-m", "src"]
