# syntax=docker/dockerfile:1
# edge-vision-agent, CPU image (docs/install.md, "Containers"). Multi-stage: the build stage compiles the
# agent and packs the same air-gapped bundle `npm run bundle` makes (production dependencies for this CPU
# only); the runtime stage is node:20 slim with ffmpeg (RTSP, V4L2) and that bundle, run as a non-root user.
#   docker build -t edge-agent .            docker compose up   (with a broker: docker-compose.yml)
ARG NODE_IMAGE=node:20.19-bookworm

FROM ${NODE_IMAGE} AS build
ARG TARGETARCH
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json agent.yaml README.md ./
COPY agent ./agent
COPY bin ./bin
COPY models ./models
COPY samples ./samples
COPY deploy ./deploy
COPY docs ./docs
RUN npm run build \
 && node deploy/bundle.mjs --target "linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" --skip-build --out /out \
 && mkdir /opt/edge-agent \
 && tar -xzf /out/edge-agent-*.tar.gz -C /opt/edge-agent --strip-components=1

FROM ${NODE_IMAGE}-slim AS runtime
# ffmpeg decodes RTSP and V4L2 cameras; tini reaps ffmpeg children and forwards SIGTERM
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 edge-agent \
 && useradd --system --uid 10001 --gid edge-agent --groups video --home-dir /data --shell /usr/sbin/nologin edge-agent \
 && install -d -o edge-agent -g edge-agent -m 0750 /data \
 && install -d -m 0755 /etc/edge-agent
COPY --from=build /opt/edge-agent /opt/edge-agent
COPY deploy/agent.yaml /etc/edge-agent/agent.yaml
ENV NODE_ENV=production \
    EDGE_AGENT_CONFIG=/etc/edge-agent/agent.yaml \
    EDGE_AGENT_HOME=/opt/edge-agent \
    EDGE_AGENT_DATA=/data \
    EDGE_AGENT_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER edge-agent:edge-agent
WORKDIR /data
# /healthz never touches the GPU or the broker: it says the process serves (docs/operations.md)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/edge-agent/bin/edge-agent.js"]
CMD ["run"]
