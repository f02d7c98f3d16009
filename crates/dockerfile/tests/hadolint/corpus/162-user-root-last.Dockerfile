FROM debian:bookworm-slim
RUN groupadd -r app && useradd -r -g app app
COPY --chown=app:app . /opt/app
USER app
RUN /opt/app/setup.sh
USER root
CMD ["/opt/app/run.sh"]
