FROM gradle:8.7-jdk21 AS gradle_build
COPY --chown=gradle:gradle . /home/gradle/project
WORKDIR /home/gradle/project
RUN --mount=type=cache,target=/home/gradle/.gradle/caches,uid=1000,gid=1000 \
    gradle bootJar --no-daemon

FROM eclipse-temurin:21-jre
RUN mkdir /app
COPY --from=gradle_build /home/gradle/project/build/libs/*.jar /app/app.jar
ENTRYPOINT ["java", "-XX:+UseContainerSupport", "-jar", "/app/app.jar"]
