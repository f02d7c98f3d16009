# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
WORKDIR C:\app
RUN Invoke-WebRequest -Uri https://nodejs.org/dist/v20.11.1/node-v20.11.1-win-x64.zip -OutFile node.zip ; `
    Expand-Archive node.zip -DestinationPath C:\ ; `
    Remove-Item -Force node.zip
RUN Get-ChildItem C:\ | Select-Object Name
COPY . .
CMD ["node.exe", "server.js"]
