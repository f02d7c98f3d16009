FROM ruby:3.2-alpine
RUN gem install rails --no-document \
    && gem install pg:1.5.6
