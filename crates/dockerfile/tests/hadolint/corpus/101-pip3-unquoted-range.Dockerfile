FROM ubuntu:22.04
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip=22.0.2+dfsg-1ubuntu0.4 \
    && rm -rf /var/lib/apt/lists/*
# The unquoted > below is a shell redirection
RUN pip3 install --no-cache-dir requests>=2.31
