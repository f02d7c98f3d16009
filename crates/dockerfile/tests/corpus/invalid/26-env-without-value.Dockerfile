FROM debian:bookworm
ENV DEBIAN_FRONTEND
RUN apt-get update
