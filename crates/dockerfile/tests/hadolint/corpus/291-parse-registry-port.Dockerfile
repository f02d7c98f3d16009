FROM localhost:5000/team/app:1.0
RUN echo "pulled from a local registry"
CMD ["sh"]
