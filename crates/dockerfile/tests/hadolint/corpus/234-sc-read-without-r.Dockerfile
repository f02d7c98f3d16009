FROM debian:bookworm-slim
COPY packages.txt /tmp/packages.txt
RUN while read pkg; do \
      echo "would install $pkg"; \
    done < /tmp/packages.txt
