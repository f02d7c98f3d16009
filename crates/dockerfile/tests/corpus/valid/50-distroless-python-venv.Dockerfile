FROM python:3.11-slim AS build-venv
RUN python3 -m venv /venv && /venv/bin/pip install --upgrade pip setuptools wheel
COPY requirements.txt /requirements.txt
RUN /venv/bin/pip install --disable-pip-version-check -r /requirements.txt

FROM gcr.io/distroless/python3-debian12
COPY --from=build-venv /venv /venv
COPY --from=busybox:1.36-uclibc /bin/sh /bin/sh
COPY . /app
WORKDIR /app
ENTRYPOINT ["/venv/bin/python3", "main.py"]
