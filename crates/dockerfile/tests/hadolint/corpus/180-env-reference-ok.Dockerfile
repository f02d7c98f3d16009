FROM eclipse-temurin:21-jre
ENV APP_HOME=/opt/app
ENV APP_CONFIG=$APP_HOME/config \
    PATH=/opt/app/bin:$PATH \
    LOG_DIR=${LOG_BASE:-/var/log}/app
ARG VERSION=1.0.0
ENV APP_VERSION=$VERSION BUILD_VERSION=${VERSION}
