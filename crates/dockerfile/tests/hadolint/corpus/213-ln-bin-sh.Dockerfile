FROM debian:bookworm-slim
RUN ln -sf /bin/bash /bin/sh
RUN echo "using bash now"
