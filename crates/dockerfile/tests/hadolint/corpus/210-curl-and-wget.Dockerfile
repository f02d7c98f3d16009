FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 wget=1.21.3-1+b2 \
    && rm -rf /var/lib/apt/lists/*
RUN curl -fsSLo /usr/local/bin/kubectl https://dl.k8s.io/release/v1.29.2/bin/linux/amd64/kubectl
RUN wget -q -O /usr/local/bin/helm.tgz https://get.helm.sh/helm-v3.14.2-linux-amd64.tar.gz
RUN curl -fsSL https://example.com/version
