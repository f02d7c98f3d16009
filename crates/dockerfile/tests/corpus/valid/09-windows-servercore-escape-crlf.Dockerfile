# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022

SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]

ENV NODE_VERSION=20.11.1
RUN Invoke-WebRequest -Uri "https://nodejs.org/dist/v$env:NODE_VERSION/node-v$env:NODE_VERSION-x64.msi" -OutFile node.msi ; `
    Start-Process msiexec.exe -ArgumentList '/i', 'node.msi', '/quiet', '/norestart' -Wait ; `
    Remove-Item node.msi

WORKDIR C:\app
COPY ["package.json", "C:\\app\\"]
RUN npm install --omit=dev
COPY . C:\app\
EXPOSE 3000
CMD ["node.exe", "server.js"]
