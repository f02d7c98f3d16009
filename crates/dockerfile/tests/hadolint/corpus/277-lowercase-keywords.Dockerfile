from python:3.12-slim as base
workdir /app
copy requirements.txt .
run pip install -r requirements.txt
cmd python app.py
