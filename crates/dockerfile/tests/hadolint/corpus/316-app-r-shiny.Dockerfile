FROM rocker/shiny:4.3.3
RUN apt-get update && apt-get install -y --no-install-recommends \
    libcurl4-gnutls-dev \
    libssl-dev \
    && rm -rf /var/lib/apt/lists/*
RUN R -e "install.packages(c('shinydashboard', 'DT'), repos='https://cloud.r-project.org/')"
COPY app/ /srv/shiny-server/app/
USER shiny
EXPOSE 3838
CMD ["/usr/bin/shiny-server"]
