# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["cmd", "/S" "/C"]
RUN echo hello
