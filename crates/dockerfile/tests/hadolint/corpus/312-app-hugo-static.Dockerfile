FROM klakegg/hugo:0.111.3-ext-alpine AS build
COPY . /src
WORKDIR /src
RUN hugo --minify --environment production

FROM nginx:1.25-alpine
COPY --from=build /src/public /usr/share/nginx/html
COPY nginx.conf /etc/nginx/conf.d/default.conf
HEALTHCHECK --interval=30s CMD wget -qO- http://localhost/ || exit 1
