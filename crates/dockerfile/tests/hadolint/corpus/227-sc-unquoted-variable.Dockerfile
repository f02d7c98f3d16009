FROM debian:bookworm-slim
COPY scripts/ /opt/scripts/
RUN TARGET=$(cat /opt/scripts/target.txt) \
    && mkdir -p /opt/$TARGET \
    && cp /opt/scripts/run.sh /opt/$TARGET/
