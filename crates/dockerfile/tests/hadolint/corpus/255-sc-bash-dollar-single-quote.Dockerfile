FROM debian:bookworm-slim
SHELL ["/bin/bash", "-c"]
ARG SEPARATOR=","
RUN IFS=$'\n' && echo "split on newlines"
