FROM ubuntu:22.04
# set -o pipefail inside the RUN does not satisfy DL4006
RUN set -o pipefail && curl -fsSL https://get.docker.com | sh
USER 1000
