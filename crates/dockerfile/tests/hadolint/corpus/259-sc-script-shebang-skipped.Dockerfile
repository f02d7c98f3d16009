FROM python:3.12-slim
RUN <<EOF
#!/usr/bin/env python3
import sys
print(sys.version, ${UNQUOTED})
EOF

CMD ["python3"]
