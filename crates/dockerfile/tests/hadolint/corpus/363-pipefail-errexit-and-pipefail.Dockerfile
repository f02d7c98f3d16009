FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "errexit", "-o", "nounset", "-o", "pipefail", "-c"]
RUN dpkg-query -W | awk '{print $1}' > /packages.txt
SHELL ["/bin/bash", "-O", "pipefail", "-c"]
RUN dpkg-query -W | wc -l
