FROM debian:bookworm-slim
COPY jdk-21_linux-x64_bin.tar.gz /tmp/
RUN mkdir -p /opt/java \
    && tar -xzf /tmp/jdk-21_linux-x64_bin.tar.gz -C /opt/java --strip-components=1 \
    && rm /tmp/jdk-21_linux-x64_bin.tar.gz
ENV PATH=/opt/java/bin:$PATH
