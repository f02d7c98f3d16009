ARG TARGETOS
ARG TARGETARCH
FROM --platform=$TARGETOS/$TARGETARCH alpine:3.19
RUN apk add --no-cache bash=5.2.21-r0
CMD ["bash"]
