# escape=`
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
SHELL ["cmd", "/S", "/C"]
USER ContainerAdministrator
RUN setx /M PATH "%PATH%;C:\tools\bin" && mkdir C:\logs
COPY tools/ C:\tools\
USER ContainerUser
