#!/usr/bin/env bash
# Peak memory of `ferroftp web` while a large file goes up and down through it.
#
# Builds ferroftp --release, starts `ferroftp serve` and `ferroftp web` on loopback in a temp
# instance, logs in with curl (cookie jar + CSRF token, as a browser would), uploads a file
# through the multipart form, downloads it back, checks the bytes, and reports the web
# process's peak RSS (VmHWM in /proc/PID/status) and the throughput of each direction.
#
#   bench/web_rss.sh                 # 1 GiB
#   bench/web_rss.sh --size-mib 256  # smaller
#
# Target (issue 7): under 64 MiB peak RSS for a 1 GiB upload and download.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
size_mib=1024
while [ $# -gt 0 ]; do
    case "$1" in
    --size-mib) size_mib="$2"; shift 2 ;;
    *) echo "usage: $0 [--size-mib N]" >&2; exit 2 ;;
    esac
done
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

echo "[web_rss] building ferroftp (release)" >&2
(cd "$repo" && cargo build --release --quiet)
ferroftp="${CARGO_TARGET_DIR:-$repo/target}/release/ferroftp"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ftp_port="$(free_port)"
web_port="$(free_port)"
mkdir -p "$work/inst" "$work/home"
echo "bench-pw" | "$ferroftp" user add --dir "$work/inst" --password-stdin bench >/dev/null
HOME="$work/home" "$ferroftp" serve --dir "$work/inst" --listen "127.0.0.1:$ftp_port" \
    >"$work/serve.log" 2>&1 &
pids+=($!)
HOME="$work/home" "$ferroftp" web --dir "$work/inst" --listen "127.0.0.1:$web_port" \
    >"$work/web.log" 2>&1 &
web_pid=$!
pids+=("$web_pid")
base="http://127.0.0.1:$web_port"
for _ in $(seq 100); do
    curl -s -o /dev/null "$base/" && grep -q "listening on" "$work/serve.log" && break
    sleep 0.1
done

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$web_pid/status"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$web_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "[web_rss] writing a ${size_mib} MiB file" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/big.bin"
want="$(sha256sum "$work/big.bin" | cut -d' ' -f1)"

jar="$work/cookies"
csrf() { curl -s -b "$jar" -c "$jar" -L "$base/" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
token="$(csrf)"
code="$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" \
    --data-urlencode "csrf=$token" --data-urlencode host=127.0.0.1 \
    --data-urlencode "port=$ftp_port" --data-urlencode user=bench \
    --data-urlencode password=bench-pw "$base/login")"
[ "$code" = 303 ] || { echo "login failed: HTTP $code" >&2; cat "$work/web.log" >&2; exit 1; }
idle_hwm="$(hwm)"

echo "[web_rss] upload" >&2
t0=$(date +%s.%N)
code="$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" \
    -F "csrf=$token" -F "file=@$work/big.bin;filename=big.bin" "$base/upload?dir=%2Fbench")"
t1=$(date +%s.%N)
[ "$code" = 303 ] || { echo "upload failed: HTTP $code" >&2; exit 1; }
up_hwm="$(hwm)"

echo "[web_rss] download" >&2
t2=$(date +%s.%N)
code="$(curl -s -o "$work/back.bin" -w '%{http_code}' -b "$jar" -c "$jar" \
    "$base/download?path=%2Fbench%2Fbig.bin")"
t3=$(date +%s.%N)
[ "$code" = 200 ] || { echo "download failed: HTTP $code" >&2; exit 1; }
got="$(sha256sum "$work/back.bin" | cut -d' ' -f1)"
stored="$(sha256sum "$work/inst/server_storage/bench/big.bin" | cut -d' ' -f1)"
[ "$got" = "$want" ] && [ "$stored" = "$want" ] || { echo "bytes differ" >&2; exit 1; }
end_hwm="$(hwm)"
end_rss="$(rss)"

rate() { awk -v a="$1" -v b="$2" -v m="$size_mib" 'BEGIN { printf "%.1f MiB/s (%.2f s)", m / (b - a), b - a }'; }
cat <<EOF
ferroftp web, ${size_mib} MiB file on loopback ($(nproc) cores, $(uname -r))
  upload   (multipart -> STOR): $(rate "$t0" "$t1")
  download (RETR -> HTTP):      $(rate "$t2" "$t3")
  bytes: sha256 equal after upload (on the server) and after download
  web process VmHWM: $(mib "$idle_hwm") MiB after login, $(mib "$up_hwm") MiB after the upload, $(mib "$end_hwm") MiB after the download (VmRSS now $(mib "$end_rss") MiB)
  target: < 64 MiB peak -> $(awk -v k="$end_hwm" 'BEGIN { print (k < 65536 ? "met" : "NOT met") }')
EOF
