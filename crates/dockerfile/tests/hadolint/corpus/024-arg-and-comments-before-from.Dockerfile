# syntax=docker/dockerfile:1
# Build arguments shared by all stages

ARG RUBY_VERSION=3.3.0
ARG BUNDLER_VERSION=2.5.6
FROM ruby:${RUBY_VERSION}-slim
ARG BUNDLER_VERSION
RUN gem install bundler -v "${BUNDLER_VERSION}"
