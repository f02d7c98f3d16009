FROM debian:bookworm-slim
ARG GREETING="hello"
RUN MSG="build done" && printf "$MSG\n" >> /var/log/build.log
