FROM confluentinc/cp-kafka-connect:7.6.0
ENV CONNECT_PLUGIN_PATH="/usr/share/java,/usr/share/confluent-hub-components"
RUN confluent-hub install --no-prompt debezium/debezium-connector-postgresql:2.5.3
RUN confluent-hub install --no-prompt confluentinc/kafka-connect-s3:10.5.7
USER root
RUN yum install -y jq && yum clean all
USER appuser
