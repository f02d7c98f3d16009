FROM mongo:7.0
COPY seed/ /seed/
ENV MONGO_INITDB_ROOT_USERNAME=root \
    MONGO_INITDB_ROOT_PASSWORD=example
CMD mongoimport --host mongodb --db app --collection users --type json --file /seed/users.json --jsonArray
