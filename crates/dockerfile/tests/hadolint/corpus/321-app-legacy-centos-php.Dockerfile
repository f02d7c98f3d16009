FROM centos:centos7
MAINTAINER webteam
RUN yum -y update && yum -y install epel-release
RUN yum -y install httpd php php-mysql php-gd; yum clean all
ADD ./site /var/www/html
RUN echo "ServerName localhost" >> /etc/httpd/conf/httpd.conf
EXPOSE 80
CMD ["/usr/sbin/httpd", "-D", "FOREGROUND"]
