ARG BASE_IMAGE=python
ARG TAG=3.12-slim
FROM ${BASE_IMAGE}:${TAG}
ARG TAG
ARG PIP_INDEX_URL
RUN echo "building on ${TAG}" && pip config set global.index-url "${PIP_INDEX_URL:-https://pypi.org/simple}"
LABEL base.tag=$TAG
