FROM alpine:3.19
ARG TARGETARCH
RUN if [ "$TARGETARCH" == "arm64" ]; then \
      echo "aarch64" > /etc/arch; \
    fi
