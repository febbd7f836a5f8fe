# syntax=docker/dockerfile:1
# The tracker image: `docker build -t tracker:0.1.0 .`
#
#   build    compiles TypeScript and the batched-UDP addon (native/udp-batch)
#   deps     production dependencies only
#   runtime  distroless Node 20 (glibc 2.36, like the build), no shell, no
#            package manager; runs as the numeric user 65532 and works with a
#            read-only root filesystem (it writes nothing). tini is PID 1 and
#            forwards SIGTERM (drain) and SIGHUP (access-list reload) to node.
#
# tests/chart/image.test.ts runs the runtime stage's steps without Docker.

ARG NODE_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# package.json overrides a test-only dependency with this local folder.
COPY tests/support/webrtc/webrtc-polyfill tests/support/webrtc/webrtc-polyfill
# Install scripts of the test tools are not needed to build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY proto proto
COPY scripts scripts
COPY native native
COPY lib lib
COPY services services
COPY bench bench
# tsc compiles the tests too (bench/memory.ts uses a test helper); they stay in this stage.
COPY tests tests
RUN TRACKER_UDP_NATIVE_REQUIRED=1 npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY tests/support/webrtc/webrtc-polyfill tests/support/webrtc/webrtc-polyfill
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && rm -rf tests

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/package.json package.json
COPY --from=build /src/dist/lib dist/lib
COPY --from=build /src/dist/services dist/services
COPY --from=build /src/dist/bench/loadtest dist/bench/loadtest
COPY --from=build /src/native/udp-batch/build/Release/udp_batch.node native/udp-batch/build/Release/udp_batch.node
USER 65532:65532
# 6969 UDP + TCP (UDP, HTTP, WebSocket), 9000 metrics and probes, 7000 swarm gRPC.
EXPOSE 6969/udp 6969/tcp 9000/tcp 7000/tcp
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/services/tracker/main.js"]
CMD ["all-in-one"]
