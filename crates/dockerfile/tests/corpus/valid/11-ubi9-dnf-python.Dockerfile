ARG UBI_TAG=9.3
FROM registry.access.redhat.com/ubi9/ubi:${UBI_TAG}
LABEL summary="Python 3.11 runtime on UBI 9" \
      "io.k8s.display-name"="python-311" \
      "io.openshift.expose-services"="8080:http"
RUN dnf install -y --setopt=tsflags=nodocs python3.11 python3.11-pip \
 && dnf clean all \
 && rm -rf /var/cache/dnf
ENV APP_ROOT=/opt/app-root \
    HOME=/opt/app-root/src
WORKDIR ${HOME}
COPY --chown=1001:0 requirements.txt .
RUN python3.11 -m pip install --no-cache-dir -r requirements.txt
COPY --chown=1001:0 . .
USER 1001
EXPOSE 8080
CMD python3.11 -m gunicorn -b 0.0.0.0:8080 app:app
