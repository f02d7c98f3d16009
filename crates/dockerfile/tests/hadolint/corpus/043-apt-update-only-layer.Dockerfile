FROM debian:bookworm-slim
RUN apt-get update
RUN apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5
RUN rm -rf /var/lib/apt/lists/*
