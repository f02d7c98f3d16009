FROM ubuntu:22.04 AS base
    ARG DEBIAN_FRONTEND=noninteractive
    RUN apt-get update && apt-get install -y --no-install-recommends tini \
        && rm -rf /var/lib/apt/lists/*

  FROM base AS app
    WORKDIR /srv
	COPY app.sh .
    # tini reaps zombies
    ENTRYPOINT ["/usr/bin/tini", "--"]
    CMD ["/srv/app.sh"]
