FROM ubuntu:20.04
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.0.10+7-1~20.04.1 \
    && apt-get clean \
    && rm -fr /var/lib/apt/lists
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
