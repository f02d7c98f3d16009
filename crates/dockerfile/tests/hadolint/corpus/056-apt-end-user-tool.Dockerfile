FROM ubuntu:24.04
RUN apt update && apt install -y python3-pip
RUN pip3 install --no-cache-dir --break-system-packages ansible==9.4.0
