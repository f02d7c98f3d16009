FROM eclipse-temurin:21-jre
ENV APP_HOME=/opt/app \
    APP_CONFIG=$APP_HOME/config \
    JAVA_OPTS="-Xms256m -Xmx1g"
COPY target/app.jar /opt/app/app.jar
