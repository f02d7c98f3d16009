FROM builder
RUN make install

FROM gcc:13 AS builder
WORKDIR /src
COPY . .
RUN make
