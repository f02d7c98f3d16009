FROM opensuse/leap:15.6
RUN zypper --non-interactive dist-upgrade --allow-vendor-change \
    && zypper -n in -y tar=1.34 \
    && zypper cc -a
