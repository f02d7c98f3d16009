FROM alpine:3.19
LABEL org.opencontainers.image.source="https://github.com/example/app" \
      org.opencontainers.image.description="Example service" \
      "org.opencontainers.image.licenses"="Apache-2.0" \
      maintainer="ops@example.com" \
      io.k8s.display-name="example" \
      version="1.2.3" \
      build_date="2024-03-01" \
      com.example/team="platform"
