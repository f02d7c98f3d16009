FROM alpine:3.19
LABEL Maintainer="ops@example.com"
LABEL build_date="2024-03-01" vcs-ref="abc1234"
LABEL com.docker.extension.api-version=">= 0.3.0"
CMD ["sh"]
