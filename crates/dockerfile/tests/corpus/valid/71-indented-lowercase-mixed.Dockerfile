# syntax=docker/dockerfile:1
# check=skip=ConsistentInstructionCasing
  from ubuntu:22.04 as base
  env LANG=C.UTF-8
  run apt-get update \
   && apt-get install -y --no-install-recommends python3 \
   && rm -rf /var/lib/apt/lists/*
  label org.opencontainers.image.title="tools"
  cmd ["python3"]
