FROM ruby:3.3-slim
WORKDIR /usr/src/app
ONBUILD COPY Gemfile Gemfile.lock ./
ONBUILD RUN bundle config set --local deployment true && bundle install
ONBUILD COPY . .
CMD ["ruby", "app.rb"]
