FROM python:3.12-slim
WORKDIR /src
RUN \
    --mount=type=cache,target=/root/.cache/pip \
    --mnt=type=bind,source=requirements.txt,target=requirements.txt \
    pip install -r requirements.txt
