# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN <<FILE1 cat > /etc/file1 && <<FILE2 cat > /etc/file2
I am
first
FILE1
I am
second
FILE2
COPY <<robots <<humans /usr/share/www/
User-agent: *
Disallow:
robots
Team: web@example.com
humans
