# syntax=docker/dockerfile:1
FROM ubuntu:22.04
RUN <<-"SETUP"
	apt-get update
	apt-get install -y --no-install-recommends python3
	rm -rf /var/lib/apt/lists/*
	SETUP
RUN python3 <<EOF
print("hello from python")
EOF
RUN <<A cat > /a.txt && <<'B' cat > /b.txt
alpha $HOME
A
beta $HOME
B
COPY <<EOF /etc/profile.d/app.sh
export APP_ENV=production
EOF
CMD ["bash", "-l"]
