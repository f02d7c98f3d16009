FROM centos:7
RUN yum -y install epel-release-7-14 \
    && yum -y install nginx-1.20.1-10.el7
CMD ["nginx", "-g", "daemon off;"]
