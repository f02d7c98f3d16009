FROM debian:bookworm-slim
RUN echo "net.core.somaxconn=1024" >> /etc/sysctl.d/99-app.conf; \
    echo "vm.overcommit_memory=1" >> /etc/sysctl.d/99-app.conf; \
    echo "fs.file-max=100000" >> /etc/sysctl.d/99-app.conf
