FROM opensuse/leap:15.5
RUN zypper refresh \
    && zypper install curl=8.0.1 \
    && zypper clean -a
