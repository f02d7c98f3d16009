# escape=`
# syntax=docker/dockerfile:1
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-NoProfile", "-Command"]
ARG GIT_VERSION=2.44.0
ENV GIT_HOME="C:\Program Files\Git" `
    TOOLS=C:\tools
RUN New-Item -ItemType Directory -Path $env:TOOLS | Out-Null ; `
    # the installer itself is fetched by CI
    Write-Host "Installing Git $env:GIT_VERSION"
WORKDIR C:\tools
VOLUME C:\data
HEALTHCHECK --interval=1m --timeout=10s CMD powershell -Command "exit 0"
CMD ["powershell"]
