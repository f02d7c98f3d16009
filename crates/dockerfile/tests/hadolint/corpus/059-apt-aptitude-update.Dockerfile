FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends aptitude=0.8.13-5 \
    && rm -rf /var/lib/apt/lists/*
RUN aptitude update && aptitude install -y htop
