FROM debian:bookworm-slim
COPY . /src
RUN make -C /src install &> /var/log/build.log \
    || (tail -n 50 /var/log/build.log && exit 1)
