FROM registry.suse.com/bci/nodejs:20
RUN zypper --non-interactive install --no-recommends git-core make && zypper clean --all
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci && npm install -g npm@10.5.0
COPY . .
USER 1000
CMD ["npm", "start"]
