FROM debian:bookworm-slim
COPY expected.txt /tmp/expected.txt
RUN diff <(dpkg-query -W -f='${Package}\n' | sort) /tmp/expected.txt
