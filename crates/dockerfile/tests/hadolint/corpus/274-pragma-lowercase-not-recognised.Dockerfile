FROM alpine
# hadolint ignore=dl3006
RUN echo "pragma codes are case-sensitive"
# HADOLINT ignore=DL3059
RUN echo "keyword too"
