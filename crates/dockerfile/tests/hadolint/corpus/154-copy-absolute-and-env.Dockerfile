FROM alpine:3.19
ENV APP_HOME=/opt/app
COPY bin/ /usr/local/bin/
COPY conf/ $APP_HOME/conf/
ADD static.tar.gz assets/
