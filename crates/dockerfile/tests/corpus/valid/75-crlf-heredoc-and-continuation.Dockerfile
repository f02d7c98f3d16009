# syntax=docker/dockerfile:1
FROM alpine:3.19
ARG USER_NAME=svc
RUN adduser -D ${USER_NAME} \
    && mkdir -p /opt/svc
RUN <<EOF
echo "setting up"
chown svc /opt/svc
EOF
COPY --chown=svc:svc run.sh /opt/svc/run.sh
CMD ["/opt/svc/run.sh"]
