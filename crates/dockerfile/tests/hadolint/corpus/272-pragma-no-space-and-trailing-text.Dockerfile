#hadolint ignore=DL3006
FROM ubuntu
RUN echo one
# hadolint ignore=DL3059 because these are separate cache layers
RUN echo two
