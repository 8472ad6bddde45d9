#!/usr/bin/env bash
# W5 with every login a first login: ferroftp with `password_cache = false`, so each session
# pays one bcrypt check (cost 10), as the first login of every account does. Compare its
# sessions/s with the "bcrypt10-all-cores" line of bench/limits.sh: that is the ceiling.
#   bench/first-logins.sh [--conc 100] [--duration 10] [--harness DIR]
# Builds --release, makes a throwaway instance under /var/tmp, removes it afterwards.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
harness="${BENCH_ANCHORS:-$repo/../shared/bench-anchors}"; conc=100; duration=10
while [ $# -gt 0 ]; do case "$1" in
    --conc) conc=$2; shift 2;; --duration) duration=$2; shift 2;; --harness) harness=$2; shift 2;;
    *) echo "bench/first-logins.sh: unknown option $1" >&2; exit 2;; esac; done
(cd "$repo" && cargo build --release --quiet)
bin="${CARGO_TARGET_DIR:-$repo/target}/release/ferroftp"
inst=$(mktemp -d /var/tmp/ferroftp-first-logins.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$inst"; }
trap cleanup EXIT
cat >"$inst/ferroftp.toml" <<TOML
# limits lifted like the harness does (every client is 127.0.0.1); no verified-password cache
max_sessions = 2000
max_per_ip = 2000
pasv_ports = "33000-33700"
password_cache = false
TOML
printf 'benchpw42\n' | "$bin" user add ftpbench --password-stdin --dir "$inst" >/dev/null
(cd "$inst" && exec "$bin" serve --dir "$inst" --listen 127.0.0.1:0 >"$inst/stdout" 2>"$inst/stderr") &
pid=$!
for _ in $(seq 1 100); do grep -q '^listening on ' "$inst/stdout" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$inst/stdout" | head -1)
[ -n "$port" ] || { echo "bench/first-logins.sh: the server did not start: $(tail -1 "$inst/stderr")" >&2; exit 1; }
# The W5 fixture, uploaded so every file has its owner record: /Public/bench/w5/file4k.bin and other1..9.bin.
head -c 4096 /dev/urandom >"$inst/f.bin"
url="ftp://127.0.0.1:$port/%2FPublic/bench/w5"
curl -sS --ftp-create-dirs -u ftpbench:benchpw42 -T "$inst/f.bin" "$url/file4k.bin"
for i in $(seq 1 9); do curl -sS -u ftpbench:benchpw42 -T "$inst/f.bin" "$url/other$i.bin"; done
bash "$harness/w5-sessions.sh" --port "$port" --conc "$conc" --duration "$duration" \
    --label ferroftp-first-logins --pid "$pid"
