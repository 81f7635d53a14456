# syntax=docker/dockerfile:1
#
# pounce — production image. It is also the base for your own app's image
# (examples/user-app/Dockerfile.from-pounce):
#
#   docker build -t ghcr.io/pounce-http/pounce:0.1.0 .
#   docker run --rm -p 8000:8000 ghcr.io/pounce-http/pounce:0.1.0      # serves examples/hello.js
#
#   FROM ghcr.io/pounce-http/pounce:0.1.0                               # your app on top
#   WORKDIR /srv/app
#   COPY . .
#   ENV POUNCE_APP=server.js
#
# `pounce` is on PATH and reads the app from POUNCE_APP (an app given on the
# command line wins). Every option is an env var (POUNCE_*) or a CLI flag; see
# docs/deploy.md.
ARG NODE_VERSION=22

# ---- build: dev dependencies + TypeScript compile --------------------------
# The build runs on the builder's own platform (its output is plain JavaScript):
# a multi-arch build (release workflow: amd64 + arm64) emulates only the runtime stage.
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS build
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
# POUNCE_DRAIN_DELAY + POUNCE_SHUTDOWN_TIMEOUT fit `docker stop`'s default 10 s
# (0 + 8, and 2 s to flush logs and spans) so a plain `docker stop` never ends in
# SIGKILL. Behind a load balancer, raise both and give `docker stop -t` (or
# compose's stop_grace_period) their sum plus a margin; the Helm chart derives
# all three for Kubernetes.
ENV NODE_ENV=production \
    POUNCE_APP=/app/examples/hello.js \
    POUNCE_HOST=0.0.0.0 \
    POUNCE_PORT=8000 \
    POUNCE_LOG_FORMAT=json \
    POUNCE_LIFECYCLE_LOGGING=true \
    POUNCE_HEALTH_CHECK_PATH=/health \
    POUNCE_DRAIN_DELAY=0 \
    POUNCE_SHUTDOWN_TIMEOUT=8
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY examples/hello.js ./examples/hello.js
# `pounce` on PATH (node runs it through its #! line, still as PID 1), and
# `import ... from 'pounce'` resolving to this very copy from an app anywhere
# on the filesystem (node looks in /node_modules last): an app built FROM this
# image must not bring a second copy, whose currentRequest() would see no request.
RUN chmod 0755 dist/cli.js \
 && ln -s /app/dist/cli.js /usr/local/bin/pounce \
 && mkdir -p /node_modules \
 && ln -s /app /node_modules/pounce

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
CMD ["pounce"]
