FROM python:3.11-alpine3.19
ARG ANSIBLE_VERSION=9.3.0
RUN apk add --no-cache --virtual .build-deps gcc musl-dev libffi-dev openssl-dev \
    && apk add --no-cache openssh-client sshpass rsync git \
    && pip install --no-cache-dir ansible==${ANSIBLE_VERSION} ansible-lint \
    && apk del .build-deps
ENV ANSIBLE_HOST_KEY_CHECKING=False \
    ANSIBLE_VAULT_PASSWORD_FILE=/run/secrets/vault_pass
WORKDIR /ansible
ENTRYPOINT ["ansible-playbook"]
