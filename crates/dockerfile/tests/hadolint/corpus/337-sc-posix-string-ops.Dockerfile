FROM alpine:3.19
ARG FULL_VERSION=3.19.1
RUN MINOR="${FULL_VERSION%.*}" \
    && echo "${MINOR//./_}" > /etc/minor
RUN SHORT_SHA="${FULL_VERSION:0:4}" && echo "$SHORT_SHA"
