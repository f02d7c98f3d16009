FROM ubuntu:22.04
RUN ln -s /bin/sh /usr/local/bin/posix-sh \
    && ls -l /usr/local/bin
ONBUILD RUN ln -sf /bin/dash /bin/sh
