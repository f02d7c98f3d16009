FROM debian:bookworm

RUN apt-get update \
    # build tools
    && apt-get install -y --no-install-recommends \
        build-essential \
        # needed for TLS
        ca-certificates \
        curl \

        git \
    && rm -rf /var/lib/apt/lists/*

ENV LANG=C.UTF-8
CMD ["bash"]
