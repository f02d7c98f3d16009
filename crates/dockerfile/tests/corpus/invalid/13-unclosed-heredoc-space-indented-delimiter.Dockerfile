# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
RUN echo start && \
    <<-SCRIPT bash
	set -e
	apt-get update
    SCRIPT
CMD ["bash"]
