from alpine:3.19 as build
run apk add --no-cache build-base
workdir /src
copy . .
run make

from alpine:3.19
copy --from=build /src/bin/hello /usr/local/bin/hello
entrypoint ["hello"]
