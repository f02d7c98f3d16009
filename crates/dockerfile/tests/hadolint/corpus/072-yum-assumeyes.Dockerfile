FROM amazonlinux:2023
RUN yum install --assumeyes shadow-utils-4.9-12.amzn2023.0.4 \
    && yum clean all \
    && useradd -r -u 1001 app
USER 1001
