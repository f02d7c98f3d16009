# syntax=docker/dockerfile:1
FROM python:3.12-slim
RUN python3 <<EOF
import subprocess
subprocess.run(["pip", "install", "requests"], check=True)
print("apt-get install -y curl | sh")
EOF

CMD ["python3"]
