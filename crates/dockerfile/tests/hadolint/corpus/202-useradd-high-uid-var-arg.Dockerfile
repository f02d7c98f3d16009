FROM ubuntu:22.04
ARG UID=123456
RUN useradd --shell /bin/sh -u 123456 -U svc
USER svc
