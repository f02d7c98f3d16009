FROM ubuntu:22.04
ENV A=1 B="two words" C=three\ words
ENV MY_DOG Rex The Dog
ENV JAVA_HOME /usr/lib/jvm/java-17-openjdk-amd64
ENV PATH="$JAVA_HOME/bin:$PATH"
RUN echo "$A $B $C $MY_DOG"
