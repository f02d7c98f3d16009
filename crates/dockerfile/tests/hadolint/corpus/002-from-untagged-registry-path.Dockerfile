# Internal base image pulled from our registry mirror
FROM registry.example.com/platform/base-python
WORKDIR /srv/app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["gunicorn", "app:create_app()"]
