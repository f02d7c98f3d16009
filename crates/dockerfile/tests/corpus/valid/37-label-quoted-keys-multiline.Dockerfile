FROM alpine:3.19
LABEL "com.example.vendor"="ACME Incorporated" \
      "com.example.label-with-value"="foo" \
      version="1.0" \
      description="This text illustrates \
that label-values can span multiple lines."
LABEL org.opencontainers.image.source=https://github.com/example/app
CMD ["sh"]
