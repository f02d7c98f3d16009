FROM ruby:3.3-slim
ARG BUNDLER_VERSION=2.5.6
RUN gem install bundler -v "$BUNDLER_VERSION" \
    && gem install nokogiri:1.16.3 --platform=ruby \
    && gem install foreman --version=0.87.2 \
    && gem install --no-document rake
