FROM rockylinux:8.9
RUN yum groupinstall "Development Tools" \
    && yum -y install cmake-3.20.2 \
    && yum clean all
