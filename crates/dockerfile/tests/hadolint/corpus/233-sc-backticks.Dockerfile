FROM ubuntu:22.04
RUN echo "Built on `date -u +%Y-%m-%dT%H:%M:%SZ`" > /etc/build-info
CMD ["cat", "/etc/build-info"]
