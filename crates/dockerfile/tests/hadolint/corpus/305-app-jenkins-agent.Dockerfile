FROM jenkins/inbound-agent:3206.vb_15dcf73f6a_9-2-jdk17
USER root
RUN apt-get update && apt-get install -y --no-install-recommends \
    docker.io \
    python3-pip \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://get.helm.sh/helm-v3.14.2-linux-amd64.tar.gz | tar -xz -C /tmp \
    && mv /tmp/linux-amd64/helm /usr/local/bin/helm
RUN usermod -aG docker jenkins
USER jenkins
