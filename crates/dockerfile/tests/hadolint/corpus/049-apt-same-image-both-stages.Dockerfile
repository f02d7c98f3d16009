FROM ubuntu:22.04
RUN apt-get update && apt-get install -y --no-install-recommends gnupg=2.2.27-3ubuntu2.1
RUN gpg --version

FROM ubuntu:22.04
COPY --from=0 /usr/bin/gpg /usr/bin/gpg
