FROM alpine:3.19
# --virtual=NAME keeps the name inside the flag word
RUN apk add --no-cache --virtual=.tools git=2.43.0-r0 openssh-client=9.6_p1-r0 \
    && git --version \
    && apk del .tools
