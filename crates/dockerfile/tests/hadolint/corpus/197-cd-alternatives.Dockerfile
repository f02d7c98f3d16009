FROM alpine:3.19
WORKDIR /src
COPY . .
RUN git -C /src log -1 --format=%H > /src/REVISION \
    && make -C /src/lib \
    && tar -C /opt -czf /tmp/src.tgz .
ONBUILD RUN cd /src && make install
