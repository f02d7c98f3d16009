FROM postgres:16.2
HEALTHCHECK NONE
COPY healthcheck.sh /usr/local/bin/
HEALTHCHECK --start-period=20s CMD ["healthcheck.sh"]
