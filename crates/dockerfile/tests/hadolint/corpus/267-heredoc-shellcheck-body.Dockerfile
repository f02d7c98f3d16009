# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN <<EOF
for f in $(ls /etc/apk/*); do
  echo "$f"
done
EOF
