FROM ruby:3.3-slim
RUN gem i rubocop
CMD ["rubocop", "--version"]
