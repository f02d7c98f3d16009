FROM mcr.microsoft.com/devcontainers/base:bookworm
ARG USERNAME=vscode
ARG USER_UID=1000
RUN apt-get update && export DEBIAN_FRONTEND=noninteractive \
    && apt-get -y install --no-install-recommends shellcheck=0.9.0-1 make=4.3-4.1 \
    && apt-get clean -y && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
    && apt-get install -y nodejs
RUN su $USERNAME -c "npm install -g @devcontainers/cli@0.58.0"
USER $USERNAME
