FROM debian:bookworm-slim
RUN grep -E "^(root|daemon):" /etc/passwd || echo 'no match | none'
RUN case "$(uname -m)" in \
      x86_64|amd64) echo amd64 > /arch ;; \
      aarch64|arm64) echo arm64 > /arch ;; \
      *) echo unknown > /arch ;; \
    esac
