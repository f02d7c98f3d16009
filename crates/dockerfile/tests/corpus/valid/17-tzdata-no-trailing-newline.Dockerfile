FROM alpine:3.19
RUN apk add --no-cache tzdata
ENV TZ=Europe/Berlin
CMD ["date"]