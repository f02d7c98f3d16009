# syntax=docker/dockerfile:1
# escape=\
# check=skip=StageNameCasing,FromAsCasing
FROM alpine:3.19 AS Builder
RUN echo building > /built.txt
FROM alpine:3.19
COPY --from=builder /built.txt /built.txt
