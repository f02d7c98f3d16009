FROM debian:bookworm-slim
LABEL maintainer="José Müller" description="Gerät-Verwaltung
RUN true
