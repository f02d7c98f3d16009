FROM alpine:3.19
ARG WORKERS=4
RUN THREADS=$(($WORKERS * 2)) && echo "threads=$THREADS" > /etc/app.conf
