# syntax=docker/dockerfile:1
FROM alpine:3.19
ENV GREETING=hello
RUN <<"EOF"
echo "literal: $GREETING"
EOF
RUN <<'EOF'
echo '$HOME is not expanded here' > /note.txt
EOF
RUN echo \$HOME >> /note.txt
CMD ["cat", "/note.txt"]
