FROM centos:7
MAINTAINER Jane Doe <jane@example.com>
RUN yum -y install httpd-2.4.6-99.el7.centos.1 && yum clean all
EXPOSE 80
CMD ["/usr/sbin/httpd", "-D", "FOREGROUND"]
