# syntax=docker/dockerfile:1.6
FROM alpine:3.19
ADD git@github.com:example/private-config.git#v1.2.0 /etc/app/
ADD --keep-git-dir=true https://github.com/example/public-repo.git /src
