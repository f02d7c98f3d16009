FROM ubuntu:22.04
ONBUILD RUN apt-get update && apt-get install curl
ONBUILD RUN curl -fsSL https://example.com/setup | bash
ONBUILD RUN echo $ONBUILD_VAR
