FROM debian:bookworm-slim
RUN apt-get update
RUN
CMD ["bash"]
