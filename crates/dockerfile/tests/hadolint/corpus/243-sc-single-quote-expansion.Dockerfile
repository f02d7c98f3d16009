FROM alpine:3.19
RUN echo 'export PATH=$HOME/.local/bin:$PATH' >> /etc/profile.d/local.sh
USER 1000
