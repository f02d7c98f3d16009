FROM python:3.12-slim
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --requirement requirements-dev.txt \
    && pip install --no-cache-dir -e . \
    && pip install --no-cache-dir -c constraints.txt uvicorn
