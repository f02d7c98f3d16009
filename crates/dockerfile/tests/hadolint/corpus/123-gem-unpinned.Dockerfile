FROM ruby:3.3-slim
RUN gem install bundler
WORKDIR /app
COPY Gemfile Gemfile.lock ./
RUN bundle install --jobs 4
