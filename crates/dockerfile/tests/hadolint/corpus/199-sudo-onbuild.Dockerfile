FROM debian:bookworm-slim
ONBUILD RUN sudo -u app /usr/local/bin/bootstrap
ONBUILD COPY . /app/
CMD ["/app/start"]
