FROM eclipse-temurin:21-jre-alpine
ARG APP_USER=app
ARG APP_PORT=8080
ARG DEBUG
ENV JAVA_TOOL_OPTIONS=${DEBUG:+-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:5005}
RUN addgroup -S ${APP_USER} && adduser -S -G ${APP_USER} ${APP_USER}
COPY --chown=${APP_USER}:${APP_USER} target/app.jar /home/${APP_USER}/app.jar
USER ${APP_USER}
WORKDIR /home/${APP_USER}
EXPOSE ${APP_PORT}
HEALTHCHECK --start-period=40s --start-interval=5s --retries=3 CMD ["wget", "-qO-", "http://localhost:8080/actuator/health"]
ENTRYPOINT ["java", "-jar", "app.jar"]
