FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3=3.11.2-1+b1 \
      python3-venv=3.11.2-1+b1
COPY . /opt/app
CMD ["python3", "/opt/app/main.py"]
