FROM alpine:3.19
COPY migrations/ /migrations/
RUN for f in $(ls /migrations/*.sql); do \
      echo "checking $f"; \
    done
