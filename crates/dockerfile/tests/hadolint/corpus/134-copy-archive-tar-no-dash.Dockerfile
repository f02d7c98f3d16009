FROM alpine:3.19
COPY node-v20.11.1-linux-x64.tar.xz /tmp/
RUN tar xJf /tmp/node-v20.11.1-linux-x64.tar.xz -C /usr/local --strip-components=1 \
    && rm /tmp/node-v20.11.1-linux-x64.tar.xz
