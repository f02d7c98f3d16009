FROM ubuntu:22.04
RUN mkdir -p /opt/releases/$(date +%Y%m%d) \
    && touch /opt/releases/latest
