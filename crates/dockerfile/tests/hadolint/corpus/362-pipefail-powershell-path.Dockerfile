FROM mcr.microsoft.com/powershell:7.4-ubuntu-22.04
SHELL ["/usr/bin/pwsh", "-Command"]
RUN Get-Process | Sort-Object CPU -Descending | Select-Object -First 5
