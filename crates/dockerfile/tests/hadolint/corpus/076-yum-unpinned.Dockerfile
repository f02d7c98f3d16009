FROM centos:7
RUN yum -y install git python3-pip \
    && yum clean all
