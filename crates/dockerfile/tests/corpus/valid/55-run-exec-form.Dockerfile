FROM debian:bookworm-slim
RUN ["apt-get", "update"]
RUN ["apt-get", "install", "-y", "--no-install-recommends", "netcat-openbsd"]
RUN ["/bin/sh", "-c", "rm -rf /var/lib/apt/lists/*"]
ENTRYPOINT ["nc"]
CMD ["-l", "-p", "9000"]
