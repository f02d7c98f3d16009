FROM mcr.microsoft.com/powershell:7.4-ubuntu-22.04
SHELL ["pwsh", "-NoLogo", "-Command"]
RUN $ErrorActionPreference = 'Stop'; Get-ChildItem Env: | Sort-Object Name | Out-String
RUN Install-Module -Name Pester -RequiredVersion 5.5.0 -Force
