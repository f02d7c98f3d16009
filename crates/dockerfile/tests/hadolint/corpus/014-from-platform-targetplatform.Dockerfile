FROM --platform=$TARGETPLATFORM debian:bookworm-slim
RUN useradd --create-home app
USER app
WORKDIR /home/app
