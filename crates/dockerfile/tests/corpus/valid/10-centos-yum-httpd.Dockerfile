FROM centos:7
MAINTAINER Ops Team <ops@example.com>
LABEL name="legacy-httpd" \
      vendor="Example Corp" \
      version="2.4"
RUN yum -y update && \
    yum -y install httpd mod_ssl && \
    yum clean all && \
    rm -rf /var/cache/yum
EXPOSE 80 443
VOLUME ["/var/www/html", "/var/log/httpd"]
CMD ["/usr/sbin/httpd", "-D", "FOREGROUND"]
