FROM debian:bullseye
RUN echo "deb http://deb.debian.org/debian bullseye-backports main" > /etc/apt/sources.list.d/backports.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends -t bullseye-backports cockpit=287-1~bpo11+1 \
    && rm -rf /var/lib/apt/lists/*
