FROM alpine:3.19
RUN tar czf - /etc |& tee /tmp/etc.tgz > /dev/null
RUN test -s /tmp/etc.tgz || exit 1
