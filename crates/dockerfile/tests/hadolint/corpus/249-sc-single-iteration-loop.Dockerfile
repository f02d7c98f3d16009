FROM alpine:3.19
RUN for dir in "/var/log/app /var/run/app"; do \
      mkdir -p "$dir"; \
    done
