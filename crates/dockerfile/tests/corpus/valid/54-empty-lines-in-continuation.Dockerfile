FROM alpine:3.19
RUN apk add --no-cache \

    bash \

    coreutils \
    # findutils is needed by the scripts
    findutils
CMD ["bash"]
