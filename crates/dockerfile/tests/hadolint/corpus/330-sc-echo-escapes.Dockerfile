FROM debian:bookworm-slim
RUN echo "[Unit]\nDescription=App\n" > /etc/app.service \
    && cat /etc/app.service
