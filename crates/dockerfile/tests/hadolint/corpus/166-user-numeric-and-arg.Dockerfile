FROM alpine:3.19
ARG UID=10001
ARG GID=10001
RUN addgroup -g "$GID" app && adduser -D -u "$UID" -G app app
USER ${UID}:${GID}
USER 10001
USER :10001
