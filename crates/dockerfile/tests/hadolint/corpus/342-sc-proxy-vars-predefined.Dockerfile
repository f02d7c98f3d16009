FROM debian:bookworm-slim
RUN echo "proxy=${HTTP_PROXY:-none} ${https_proxy:-none}" > /etc/proxy.info
RUN echo "no_proxy=${no_proxy} all=${all_proxy}" >> /etc/proxy.info
