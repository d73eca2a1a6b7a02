# The loader, built once: compiled with the dev dependencies in a build stage, run with production
# dependencies only. The embedded PostgreSQL's binaries (optional dependencies) are left out: the image
# always loads into a server of its own (DATABASE_URL).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
# `prepare` compiles TypeScript into dist/.
RUN npm ci --omit=optional --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY sql ./sql
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--help"]
