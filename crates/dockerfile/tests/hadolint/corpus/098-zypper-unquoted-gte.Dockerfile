FROM opensuse/leap:15.5
# Unquoted >= is a redirection, so the version is lost
RUN zypper -n install ruby>=3.0 && zypper clean
CMD ["irb"]
