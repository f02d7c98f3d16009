FROM ubuntu:22.04
RUN apt-get update && apt-get install -y --no-install-recommends postgresql=14+238 \
    && rm -rf /var/lib/apt/lists/*
RUN service postgresql start \
    && su postgres -c "createuser --superuser app" \
    && service postgresql stop
