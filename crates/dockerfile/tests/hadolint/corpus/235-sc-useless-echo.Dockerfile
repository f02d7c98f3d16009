FROM alpine:3.19
COPY VERSION /VERSION
RUN echo $(cat /VERSION) > /etc/app-version
