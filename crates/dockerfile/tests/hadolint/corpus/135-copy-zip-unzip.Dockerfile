FROM eclipse-temurin:21-jre
COPY dist/app-bundle.zip /opt/
RUN cd /opt && unzip app-bundle.zip && rm app-bundle.zip
