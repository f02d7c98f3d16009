ARG REGISTRY=docker.io
FROM ${REGISTRY}/library/alpine:3.19
ARG APP_HOME
ARG DEBUG
ENV APP_HOME=${APP_HOME:-/opt/app} \
    LOG_FLAGS=${DEBUG:+--verbose} \
    PRICE_TAG=\$5
WORKDIR $APP_HOME
RUN echo "home is ${APP_HOME}, flags are $LOG_FLAGS, price \$PRICE_TAG"
CMD echo "running in $APP_HOME"
