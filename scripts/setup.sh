#!/usr/bin/env bash
# Installs what gost needs from Debian 12's packages (build tools, libraries, and the peer
# programs the integration tests and benchmarks talk to). Idempotent: installs only what is missing.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build ccache pkg-config git
            libasio-dev libssl-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev catch2
            libnghttp2-dev android-libboringssl-dev)
# Peers the integration tests talk to.
TEST_PKGS=(python3 curl socat microsocks dante-server tinyproxy netcat-openbsd iproute2 procps
           openssl nghttp2-client nghttp2-server python3-websockets python3-h2 shadowsocks-libev
           kcptun)
# Further peers only the benchmarks start.
BENCH_PKGS=(haproxy v2ray)

want=("${BUILD_PKGS[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${TEST_PKGS[@]}") ;;
    --bench) want+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
    *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Peer daemons must not start as services on install; the tests start their own copies.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
