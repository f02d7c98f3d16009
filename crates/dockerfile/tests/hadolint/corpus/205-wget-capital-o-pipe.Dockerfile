FROM alpine:3.19
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
RUN wget -O - https://get.example.com/install.sh | sh
