FROM alpine:3.19
COPY packages.txt /tmp/packages.txt
RUN for pkg in $(cat /tmp/packages.txt); do \
      apk add --no-cache "$pkg"; \
    done
