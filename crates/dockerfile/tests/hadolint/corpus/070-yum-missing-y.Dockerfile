FROM centos:7
RUN yum install httpd-2.4.6-99.el7.centos.1 mod_ssl-2.4.6-99.el7.centos.1 && yum clean all
EXPOSE 80 443
