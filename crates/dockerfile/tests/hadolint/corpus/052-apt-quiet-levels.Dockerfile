FROM debian:bookworm
RUN apt-get update -qq && apt-get install -qq --no-install-recommends \
        xz-utils=5.4.1-0.2 \
    && rm -rf /var/lib/apt/lists/*
RUN apt-get update && apt-get --assume-yes install --no-install-recommends file=1:5.44-3 \
    && rm -rf /var/lib/apt/lists/*
