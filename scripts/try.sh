#!/usr/bin/env bash
# Installs what is missing, builds gost (Release) and runs it as a SOCKS5 + HTTP proxy on
# localhost: SOCKS5 on 127.0.0.1:1080, HTTP on 127.0.0.1:8080. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target gost_cli
echo "gost: SOCKS5 proxy on 127.0.0.1:1080, HTTP proxy on 127.0.0.1:8080 (try: curl -x socks5h://127.0.0.1:1080 ...)"
exec ./build/release/cli/gost -L socks5://127.0.0.1:1080 -L http://127.0.0.1:8080 "$@"
