FROM python:3.12-slim
ARG USER_NAME=app
ENV PASSWD_FILE=/etc/passwd \
    API_BASE_URL=https://api.example.com \
    KEYCLOAK_REALM=main \
    AUTH_MODE=oidc
