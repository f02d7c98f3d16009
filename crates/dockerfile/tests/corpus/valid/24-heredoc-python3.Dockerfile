# syntax=docker/dockerfile:1
FROM python:3.12-alpine
RUN python3 <<EOF
import json, pathlib
cfg = {"debug": False, "workers": 4}
pathlib.Path("/etc/app.json").write_text(json.dumps(cfg))
EOF
CMD ["python3", "-c", "print(open('/etc/app.json').read())"]
