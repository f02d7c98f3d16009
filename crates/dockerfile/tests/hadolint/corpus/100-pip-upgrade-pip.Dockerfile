FROM python:3.11-bookworm
RUN python -m pip install --no-cache-dir --upgrade pip setuptools wheel
COPY requirements.txt /tmp/
RUN pip install --no-cache-dir -r /tmp/requirements.txt
