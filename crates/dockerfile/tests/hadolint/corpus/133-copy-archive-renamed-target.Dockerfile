FROM alpine:3.19
COPY release/build-output.tar /tmp/app.tar
COPY data.csv.gz /tmp/
RUN mkdir /opt/app && tar --extract --file /tmp/app.tar -C /opt/app
RUN gunzip /tmp/data.csv.gz
