FROM opensuse/tumbleweed
RUN zypper -n refresh && zypper -n dup && zypper clean -a
CMD ["/bin/bash"]
