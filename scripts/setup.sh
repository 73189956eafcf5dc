#!/usr/bin/env bash
# Installs what xmesh needs to build, test and benchmark on Debian 12: idempotent, and it
# only calls apt-get when a package is missing. Then installs npm dependencies.
# Usage: scripts/setup.sh [--no-npm] [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

want=(clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3
      libprotobuf-c-dev protobuf-c-compiler libpcre2-dev liburing-dev iproute2 iptables)
bench=(haproxy nginx-light libnginx-mod-stream wrk)
npm_install=1
for a in "$@"; do
  case "$a" in
    --no-npm) npm_install=0 ;;
    --bench) want+=("${bench[@]}") ;;
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present"
fi

if [ "$npm_install" = 1 ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    echo "setup: node_modules up to date"
  fi
fi
