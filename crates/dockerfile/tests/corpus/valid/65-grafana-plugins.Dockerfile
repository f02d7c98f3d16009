ARG GRAFANA_IMAGE=grafana/grafana GRAFANA_VERSION=10.4.1
FROM ${GRAFANA_IMAGE}:${GRAFANA_VERSION}
ARG GF_INSTALL_PLUGINS="grafana-clock-panel,grafana-piechart-panel"
ENV GF_PATHS_PLUGINS=/var/lib/grafana-plugins \
    GF_SECURITY_ADMIN_USER=${GF_SECURITY_ADMIN_USER:-admin} \
    GF_INSTANCE_NAME=grafana\ with\ plugins
USER root
RUN mkdir -p "$GF_PATHS_PLUGINS" && chown -R grafana "$GF_PATHS_PLUGINS"
USER grafana
RUN [ -z "$GF_INSTALL_PLUGINS" ] || for p in $(echo "$GF_INSTALL_PLUGINS" | tr ',' ' '); do grafana cli --pluginsDir "$GF_PATHS_PLUGINS" plugins install "$p"; done
