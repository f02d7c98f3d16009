FROM python:3.12-slim
# hadolint ignore=DL3013

RUN pip install --no-cache-dir httpie
# hadolint ignore=DL3042
# the pragma above is separated by this comment
RUN pip install -r /tmp/requirements.txt
