FROM centos:7
RUN yum install -y wget-1.14-18.el7_6.1 \
    && rm -rf /var/cache/yum/*
