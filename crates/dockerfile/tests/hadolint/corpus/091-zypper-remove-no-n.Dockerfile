FROM opensuse/tumbleweed:latest
RUN zypper --non-interactive install --no-recommends gzip=1.13 \
    && zypper rm vim-small \
    && zypper clean --all
