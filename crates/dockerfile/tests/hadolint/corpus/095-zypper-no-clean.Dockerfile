FROM opensuse/leap:15.5
RUN zypper -n in git-core=2.35.3 openssh-clients=8.4p1
WORKDIR /repo
