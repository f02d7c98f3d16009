FROM alpine:3.19
COPY --link --chmod=755
CMD ["sh"]
