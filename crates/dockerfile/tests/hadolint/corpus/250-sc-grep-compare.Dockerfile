FROM debian:bookworm-slim
RUN if [ "$(grep -c nobody /etc/passwd)" -gt 0 ] && [ "$(grep nogroup /etc/group)" ]; then \
      echo "has nobody"; \
    fi
