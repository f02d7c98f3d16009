FROM python:3.12-slim
RUN python -m venv /venv
# install the dependencies
RUN /venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

RUN /venv/bin/python -m compileall /venv
