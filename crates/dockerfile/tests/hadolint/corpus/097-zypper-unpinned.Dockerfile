FROM registry.suse.com/bci/bci-base:15.5
RUN zypper --non-interactive install nodejs20 npm20 \
    && zypper clean
