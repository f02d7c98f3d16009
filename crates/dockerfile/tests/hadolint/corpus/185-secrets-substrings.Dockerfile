FROM python:3.12-slim
ENV AWS_ACCESS_KEY_ID="" \
    DJANGO_SECRET_KEY=dev-only \
    SENTRY_API_KEY=placeholder
ARG private_registry_user
ARG DOCKER_EMAIL
