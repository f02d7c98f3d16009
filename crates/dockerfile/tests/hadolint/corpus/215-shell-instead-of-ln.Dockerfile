FROM debian:bookworm-slim
SHELL ["/bin/bash", "-c"]
RUN ln -sf /usr/bin/python3 /usr/bin/python \
    && ln -s /bin/bash /usr/local/bin/sh-compat
