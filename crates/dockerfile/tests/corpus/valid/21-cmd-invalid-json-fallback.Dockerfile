# check=skip=JSONArgsRecommended
FROM alpine:3.19
COPY --chmod=755 entry.sh /entry.sh
ENTRYPOINT /entry.sh
CMD [foo]
