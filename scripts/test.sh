#!/usr/bin/env bash
# The test command (README): installs the external FTP clients the tests drive
# (curl, lftp; python3 is expected on the machine), then runs every test target.
# Idempotent and quiet when everything is present; works as root with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v lftp >/dev/null 2>&1 || missing+=(lftp)
command -v python3 >/dev/null 2>&1 || missing+=(python3)

if ((${#missing[@]} > 0)); then
    echo "installing ${missing[*]}" >&2
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        </dev/null >"$log" 2>&1; then
        cat "$log" >&2
        echo "cannot install ${missing[*]}" >&2
        exit 1
    fi
    rm -f "$log"
fi

status=0
cargo test --all-targets "$@" </dev/null || status=$?
exit "$status"
