FROM --platform linux/amd64 ubuntu:22.04
RUN uname -m
