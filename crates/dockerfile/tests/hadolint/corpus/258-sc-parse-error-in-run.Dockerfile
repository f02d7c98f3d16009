FROM alpine:3.19
RUN if [ -f /etc/alpine-release ]; then \
      echo "alpine" \
    fi
