FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 gettext \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system django && useradd --system --gid django --home /app django

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/production.txt

COPY --chown=django:django . .
RUN python manage.py collectstatic --noinput
RUN python manage.py compilemessages

USER django
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
