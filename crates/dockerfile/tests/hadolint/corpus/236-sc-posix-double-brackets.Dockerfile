FROM debian:bookworm-slim
RUN if [[ "$(uname -m)" = "x86_64" ]]; then \
      echo amd64 > /etc/arch; \
    else \
      echo other > /etc/arch; \
    fi
