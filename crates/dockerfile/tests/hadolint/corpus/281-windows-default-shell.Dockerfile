FROM mcr.microsoft.com/windows/servercore:ltsc2019
RUN powershell -Command Invoke-WebRequest https://example.com/app.msi -OutFile C:\app.msi
RUN msiexec /i C:\app.msi /qn | findstr /i error
CMD ["C:\\app\\app.exe"]
