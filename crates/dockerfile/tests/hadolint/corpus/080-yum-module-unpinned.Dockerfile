FROM almalinux:8
RUN yum -y module install php \
    && yum clean all
