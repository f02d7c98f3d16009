ARG BUILD_STAGE=build-prod
FROM node:20-alpine AS build-prod
RUN echo prod > /flavor

FROM nginx:1.25-alpine
ARG BUILD_STAGE
COPY --from=$BUILD_STAGE /flavor /flavor
