FROM oraclelinux:8
RUN yum -y install oracle-instantclient-release-el8-1.0 \
    && yum clean packages
