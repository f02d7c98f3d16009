FROM debian:bookworm-slim
RUN egrep -v '^#' /etc/ssh/ssh_config > /tmp/ssh_config.clean
CMD ["cat", "/tmp/ssh_config.clean"]
