FROM opensuse/leap:15.6
RUN zypper -n update \
    && zypper -n install 'python311>=3.11.8' python311-pip=23.3 \
    && zypper clean --all
