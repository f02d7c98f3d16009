FROM continuumio/miniconda3:24.1.2-0
RUN conda install -y -c conda-forge jupyterlab=4.1.5 numpy pandas matplotlib && \
    conda clean -afy
RUN pip install jupyterlab-git
RUN useradd -m -s /bin/bash -N -u 1000 jovyan
USER jovyan
WORKDIR /home/jovyan
EXPOSE 8888
CMD jupyter lab --ip=0.0.0.0 --no-browser --NotebookApp.token=''
