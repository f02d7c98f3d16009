# syntax=docker/dockerfile:1
# escape=`
# syntax=docker/dockerfile:1.7-labs
FROM alpine:3.19
