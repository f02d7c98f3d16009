# syntax=docker/dockerfile:1
FROM fedora:40
RUN --mount=type=cache,target=/var/cache/dnf <<EOF
set -e
dnf install -y --setopt=keepcache=1 gcc make git
dnf install -y python3-devel
EOF
RUN cat <<EOF > /etc/motd
Welcome to the Fedora build box.
EOF
WORKDIR /build
CMD ["/bin/bash"]
