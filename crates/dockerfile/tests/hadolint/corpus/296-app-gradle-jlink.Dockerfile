FROM gradle:8.6-jdk21 AS build
COPY --chown=gradle:gradle . /home/gradle/src
WORKDIR /home/gradle/src
RUN gradle bootJar --no-daemon

FROM eclipse-temurin:21-jdk AS jre
RUN $JAVA_HOME/bin/jlink --add-modules java.base,java.logging,java.sql,java.naming \
      --strip-debug --no-man-pages --no-header-files --compress=2 --output /javaruntime

FROM debian:bookworm-slim
ENV JAVA_HOME=/opt/java/openjdk
ENV PATH="${JAVA_HOME}/bin:${PATH}"
COPY --from=jre /javaruntime $JAVA_HOME
RUN mkdir /opt/app
COPY --from=build /home/gradle/src/build/libs/*.jar /opt/app/app.jar
CMD ["java", "-jar", "/opt/app/app.jar"]
