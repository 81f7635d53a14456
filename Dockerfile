# syntax=docker/dockerfile:1
#
# pounce — production image.
#
#   docker build -t pounce .
#   docker run --rm -p 8000:8000 pounce                      # serves examples/hello.js
#   docker run --rm -p 8000:8000 -v "$PWD/app.js:/app/user/app.js:ro" \
#     pounce node dist/cli.js user/app.js                     # serves your app
#
# Every option is an env var (POUNCE_*) or a CLI flag; see docs/deploy.md.
ARG NODE_VERSION=22

# ---- build: dev dependencies + TypeScript compile --------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies only, non-root ------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="pounce" \
      org.opencontainers.image.description="Production HTTP application server for Node.js" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    POUNCE_HOST=0.0.0.0 \
    POUNCE_PORT=8000 \
    POUNCE_LOG_FORMAT=json \
    POUNCE_LIFECYCLE_LOGGING=true \
    POUNCE_HEALTH_CHECK_PATH=/health
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY examples ./examples

# The image's files stay root-owned and read-only for the server: it runs as the
# image's unprivileged "node" user (uid 1000) and writes nothing but stdout.
USER node
EXPOSE 8000

# No curl in a slim image: node itself probes the health endpoint (which pounce
# answers without logging it). It follows POUNCE_PORT / POUNCE_HEALTH_CHECK_PATH.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.POUNCE_PORT||8000)+(process.env.POUNCE_HEALTH_CHECK_PATH||'/health')).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is PID 1 and gets SIGTERM directly: pounce drains (health turns 503,
# POUNCE_DRAIN_DELAY), finishes in-flight requests (POUNCE_SHUTDOWN_TIMEOUT),
# flushes logs and spans, and exits 0. No npm, no shell in between.
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js", "examples/hello.js"]
