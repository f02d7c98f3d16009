FROM jupyter/base-notebook:python-3.11
USER root
RUN apt-get update && apt-get install -y --no-install-recommends graphviz && rm -rf /var/lib/apt/lists/*
USER ${NB_UID}
ENV JUPYTER_ENABLE_LAB yes
ENV NOTEBOOK_ARGS --NotebookApp.token='' --no-browser
COPY --chown=${NB_UID}:${NB_GID} notebooks/ /home/jovyan/work/
VOLUME ["/home/jovyan/work"]
EXPOSE 8888
