FROM debian:bookworm-slim
ENV CONF=/etc/app.conf
RUN [ -f "$CONF" -a -r "$CONF" ] && echo "config readable"
