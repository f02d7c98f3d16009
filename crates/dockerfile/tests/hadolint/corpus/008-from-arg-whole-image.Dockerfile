ARG BASE=gcr.io/distroless/python3-debian12
FROM ${BASE}
COPY --chown=nonroot:nonroot app/ /app/
WORKDIR /app
USER nonroot
CMD ["main.py"]
