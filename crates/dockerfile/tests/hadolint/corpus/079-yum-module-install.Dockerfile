FROM rockylinux:8.9
RUN yum -y module enable nodejs:18 \
    && yum -y module install nodejs:18/common \
    && yum clean all
