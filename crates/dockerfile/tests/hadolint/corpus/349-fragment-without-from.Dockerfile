# Fragment appended to generated Dockerfiles by our build tooling
RUN apt-get update && apt-get install -y --no-install-recommends tini=0.19.0-1
RUN yarn install --production
ENTRYPOINT ["/usr/bin/tini", "--"]
