FROM centos:7
COPY pkg/ /tmp/pkg/
RUN yum -y localinstall /tmp/pkg/legacy-agent.rpm \
    && yum -y install /tmp/pkg/agent.rpm \
    && yum clean all
