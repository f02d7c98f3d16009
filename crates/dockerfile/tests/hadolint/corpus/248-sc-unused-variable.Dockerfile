FROM alpine:3.19
RUN build_id=42 \
    && echo "building"
CMD ["sh"]
