FROM alpine:3.19
ARG TERRAFORM_VERSION=1.7.5
ARG TFLINT_VERSION=0.50.3
RUN apk add --no-cache bash=5.2.21-r0 curl=8.5.0-r0 unzip=6.0-r14 git=2.43.0-r0
RUN curl -fsSLo /tmp/terraform.zip "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" \
    && unzip /tmp/terraform.zip -d /usr/local/bin \
    && rm /tmp/terraform.zip
RUN curl -s https://raw.githubusercontent.com/terraform-linters/tflint/master/install_linux.sh | bash
ENTRYPOINT ["terraform"]
