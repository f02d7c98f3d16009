FROM alpine:3.19
RUN apk add --no-cache openssh-server
RUN ["ssh-keygen", "-A"]
EXPOSE 22
ENTRYPOINT /usr/sbin/sshd -D -e