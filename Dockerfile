# syntax=docker/dockerfile:1
# xmesh sidecar image: build stage compiles the eBPF objects, the native addon and the
# TypeScript control core; the runtime stage carries only what `xmesh run` needs.
#
# Running it. The data plane itself needs no privilege, but eBPF redirection
# (`xmesh redirect install`, cgroup/connect4, sockops/sk_msg, XDP) does:
#
#   docker run --rm --network host \
#     --cap-add BPF --cap-add NET_ADMIN --cap-add SYS_ADMIN --cap-add PERFMON \
#     -v /sys/fs/bpf:/sys/fs/bpf \
#     -v /sys/fs/cgroup:/sys/fs/cgroup \
#     -v "$PWD/examples:/etc/xmesh:ro" \
#     xmesh run --config /etc/xmesh/default.yaml
#
#   CAP_BPF       load programs and create maps (kernel >= 5.8; older kernels: CAP_SYS_ADMIN)
#   CAP_NET_ADMIN attach cgroup/sockops/XDP/tc programs, SO_ORIGINAL_DST handling
#   CAP_SYS_ADMIN attach to cgroups and pin under /sys/fs/bpf on most kernels
#   CAP_PERFMON   pointer arithmetic / map lookups the verifier allows only with it
#   or simply --privileged. Pins live under /sys/fs/bpf/xmesh/<instance>/ (the bpffs bind
#   mount makes them survive a container restart, i.e. a hot restart); the cgroup v2 mount
#   lets `xmesh redirect install` attach to the application's cgroup.
# As a sidecar the proxy must share the application's network namespace:
#   --network host, or --network container:<app> (a Kubernetes pod does this already).
# Ports: 15000 admin (bind 127.0.0.1 by default), 15001 outbound, 15006 inbound.

ARG NODE_IMAGE=node:20-bookworm
ARG NODE_RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
      libprotobuf-c-dev protobuf-c-compiler libpcre2-dev liburing-dev make g++ python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp builds against the image's own headers instead of downloading them
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM ${NODE_RUNTIME_IMAGE} AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbpf1 libelf1 libprotobuf-c1 libpcre2-8-0 liburing2 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/build/Release/xmesh_native.node ./build/Release/xmesh_native.node
COPY --from=build /app/bpf/*.bpf.o ./bpf/
COPY --from=build /app/proto ./proto
COPY --from=build /app/examples ./examples
EXPOSE 15000 15001 15006
# Node flags as in the bin/xmesh.js shebang (src/cli/node-flags.ts says why).
ENTRYPOINT ["node", "--no-memory-reducer", "--enable-experimental-regexp-engine", "bin/xmesh.js"]
CMD ["run"]
