FROM python:3.12-slim
WORKDIR /srv/app
COPY requirements.txt ./
COPY src/ src/
COPY config.toml "$HOME/.config/app/"
