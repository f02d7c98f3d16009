FROM openjdk:17-jdk-slim
COPY target/app.jar /app.jar
ENTRYPOINT java -Xmx512m -jar /app.jar
