FROM ruby:3.3-slim
onbuild add Gemfile Gemfile.lock /app/
onbuild run bundle install --jobs 4
onbuild add . /app
WORKDIR /app
CMD ["bundle", "exec", "rackup", "-o", "0.0.0.0"]
