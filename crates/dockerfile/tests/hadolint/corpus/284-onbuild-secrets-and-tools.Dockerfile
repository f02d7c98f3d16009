FROM node:20-alpine
ONBUILD ARG NPM_TOKEN
ONBUILD ENV GITHUB_TOKEN=""
ONBUILD RUN wget https://example.com/tool && yarn install
ONBUILD RUN apk add git && go install example.com/tool@latest
