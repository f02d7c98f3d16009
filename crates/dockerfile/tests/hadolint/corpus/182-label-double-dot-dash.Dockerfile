FROM alpine:3.19
LABEL org.example..team="platform" \
      app--name="billing"
LABEL version.1.=2
