# syntax=docker/dockerfile:1
# Build: compile TypeScript and generate the Prisma client (no engine binaries needed).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# npm ci builds the inbox page (postinstall) from web/.
COPY web ./web
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
RUN npm run build && npm prune --omit=dev

# Run: compiled code, production dependencies, templates and migrations; as the unprivileged node user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    LEADGATE_DATA_DIR=/data
WORKDIR /app
RUN mkdir -p /data && chown node:node /data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
COPY templates ./templates
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# Set DATABASE_URL and REDIS_URL to use PostgreSQL and Redis; run more workers with
# `docker run … node dist/src/worker.js`.
CMD ["node", "dist/src/server.js"]
