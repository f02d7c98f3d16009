FROM rockylinux:9.3
ONBUILD RUN yum install httpd
ONBUILD RUN dnf install nginx
ONBUILD RUN zypper install tar
ONBUILD RUN gem install rake && useradd -u 5000000 ci
