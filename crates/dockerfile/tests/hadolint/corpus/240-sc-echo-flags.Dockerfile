FROM alpine:3.19
RUN echo -e "[global]\nindex-url = https://pypi.example.com/simple" > /etc/pip.conf
ENV PIP_CONFIG_FILE=/etc/pip.conf
