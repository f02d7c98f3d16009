FROM gcc:13
WORKDIR /src
COPY . .
RUN make check; if [ $? -ne 0 ]; then cat test-suite.log; exit 1; fi
