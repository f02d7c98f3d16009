FROM alpine:3.19
COPPY app /app
CMD ["/app"]
