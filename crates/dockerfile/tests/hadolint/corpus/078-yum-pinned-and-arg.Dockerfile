FROM centos:7
ARG NGINX_VERSION=1.20.1
RUN yum -y install \
        "nginx-${NGINX_VERSION}" \
        /tmp/rpms/custom-tools-2.0.1-1.el7.x86_64.rpm \
        openssl-1.0.2k-26.el7_9 \
    && yum clean all
