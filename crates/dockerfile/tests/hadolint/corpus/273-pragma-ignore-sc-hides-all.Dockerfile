FROM debian:bookworm-slim
# hadolint ignore=SC2086
RUN cd /tmp; echo $HOSTNAME_SUFFIX$1
RUN cd /tmp; ls /tmp
