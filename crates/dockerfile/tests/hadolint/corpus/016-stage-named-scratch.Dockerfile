FROM alpine:3.19 AS scratch
RUN echo "hello" > /hello.txt

FROM busybox:1.36
COPY --from=scratch /hello.txt /hello.txt
CMD ["cat", "/hello.txt"]
