FROM debian:bookworm-slim
COPY warmup.sh /usr/local/bin/warmup.sh
RUN /usr/local/bin/warmup.sh & sleep 5; ps aux; kill %1
CMD ["/usr/local/bin/warmup.sh"]
