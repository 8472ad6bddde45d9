#!/usr/bin/env bash
# The S3 back-end measured in one run beside the local back-end and beside the store's own
# speed: a three-node Garage cluster on 127.0.0.21-23 (replication factor 3, started here),
# one ferroftp instance with storage = "s3" and one with storage = "local" on 127.0.0.11,
# and rclone (a plain S3 client) moving the same bytes straight to Garage: the ceiling.
# Interleaved repetitions of: STOR and RETR of one big file (loadgen bigput/bigget, from the
# shared harness), COUNT x 4 KiB STORs in one session (loadgen smallput), and the same with
# rclone (copyto up and down; copy of COUNT files with one transfer at a time). Prints
# medians, MB = 10^6 B, with ferroftp's CPU per unit of work (from /proc/PID/stat).
#
#   bench/s3.sh [--reps 3] [--size-mib 256] [--count 100]
#
# Needs garage (cargo install --locked garage), rclone, curl, and the shared harness
# (../shared/bench-anchors, or BENCH_ANCHORS=DIR) for its loadgen.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
harness="${BENCH_ANCHORS:-$repo/../shared/bench-anchors}"
reps=3 size_mib=256 count=100
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --size-mib) size_mib=$2; shift 2 ;;
        --count) count=$2; shift 2 ;;
        *) echo "bench/s3.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
garage=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[ -x "$garage" ] || { echo "bench/s3.sh: garage not found (cargo install --locked garage)" >&2; exit 2; }
[ -f "$harness/lib.sh" ] || { echo "bench/s3.sh: no harness at $harness (BENCH_ANCHORS=DIR)" >&2; exit 2; }
# shellcheck source=/dev/null
. "$harness/lib.sh"
need_loadgen
(cd "$repo" && cargo build --release -q)
ferroftp="$repo/target/release/ferroftp"
work=$(mktemp -d /var/tmp/ferroftp-s3bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }

log "starting Garage (3 nodes, replication 3) in $work"
secret=$(openssl rand -hex 32)
for i in 1 2 3; do
    ip=127.0.0.2$i; d=$work/garage$i; mkdir -p "$d"
    rpc=$ip:$(free_port $ip)
    cat >"$d/garage.toml" <<EOF
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "$rpc"
rpc_public_addr = "$rpc"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "$ip:$(free_port $ip)"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "$ip:$(free_port $ip)"
EOF
    "$garage" -c "$d/garage.toml" server >"$d/log" 2>&1 &
    pids+=($!)
done
g() { "$garage" -c "$work/garage1/garage.toml" "$@"; }
node_id() { for _ in $(seq 1 100); do "$garage" -c "$work/garage$1/garage.toml" node id -q 2>/dev/null && return; sleep 0.2; done; exit 1; }
ids=("$(node_id 1)" "$(node_id 2)" "$(node_id 3)")
g node connect "${ids[1]}" >/dev/null
g node connect "${ids[2]}" >/dev/null
for id in "${ids[@]}"; do g layout assign -z dc1 -c 1G "${id:0:16}" >/dev/null; done
g layout apply --version 1 >/dev/null
keyinfo=$(g key create bench)
key_id=$(sed -n 's/^Key ID: *//p' <<<"$keyinfo")
key_secret=$(sed -n 's/^Secret key: *//p' <<<"$keyinfo")
g bucket create bench >/dev/null
g bucket allow --read --write --owner bench --key bench >/dev/null
s3=$(sed -n '/\[s3_api\]/,$ s/^api_bind_addr = "\(.*\)"/\1/p' "$work/garage1/garage.toml" | head -1)

export RCLONE_CONFIG_G_TYPE=s3 RCLONE_CONFIG_G_PROVIDER=Other RCLONE_CONFIG_G_ENDPOINT="http://$s3" \
    RCLONE_CONFIG_G_ACCESS_KEY_ID="$key_id" RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$key_secret" \
    RCLONE_CONFIG_G_REGION=garage
unset AWS_CA_BUNDLE
rc() { rclone --config /dev/null -q "$@"; }
# The new layout takes a moment to reach every node: wait until the bucket takes a write.
echo ready >"$work/ready.txt"
for _ in $(seq 1 100); do rc copyto "$work/ready.txt" g:bench/ready.txt 2>/dev/null && break; sleep 0.3; done

start_node() { # NAME STORAGE_TOML -> sets port and pid of the node
    local dir=$work/$1
    mkdir -p "$dir"
    printf 'bcrypt_cost = 4\nfsync_uploads = false\n%s' "$2" >"$dir/ferroftp.toml"
    echo benchpw42 | "$ferroftp" user add ftpbench --password-stdin --dir "$dir" >/dev/null
    "$ferroftp" serve --dir "$dir" --listen 127.0.0.11:0 >"$dir/out" 2>"$dir/err" &
    pids+=($!)
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do grep -q '^listening on' "$dir/out" && break; sleep 0.1; done
    sed -n 's/^listening on 127.0.0.11:\([0-9]*\)$/\1/p' "$dir/out" | head -1 >"$dir/port"
}
start_node s3 "storage = \"s3\"
s3_endpoint = \"http://$s3\"
s3_bucket = \"bench\"
s3_region = \"garage\"
s3_prefix = \"ftp\"
s3_access_key_id = \"$key_id\"
s3_secret_access_key = \"$key_secret\"
"
start_node local ""

bytes=$((size_mib * 1024 * 1024))
head -c "$bytes" /dev/urandom >"$work/big.bin"
mkdir -p "$work/small"
for i in $(seq -w 1 "$count"); do head -c 4096 /dev/urandom >"$work/small/f$i.bin"; done
for node in s3 local; do
    port=$(cat "$work/$node/port")
    curl -sS --ftp-create-dirs -T "$work/big.bin" "ftp://ftpbench:benchpw42@127.0.0.11:$port/%2FPublic/bench/big.bin"
    curl -sS --ftp-create-dirs -T "$work/small/f$(printf '%0*d' ${#count} 1).bin" \
        "ftp://ftpbench:benchpw42@127.0.0.11:$port/%2FPublic/bench/up/seed.bin"
done
rc copyto "$work/big.bin" g:bench/ceiling/big.bin

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
results=$work/results
: >"$results"
record() { echo "$1 $2 $3 $4" >>"$results"; } # workload who value cpu_per_unit

for rep in $(seq 1 "$reps"); do
    log "repetition $rep of $reps"
    for node in s3 local; do
        port=$(cat "$work/$node/port"); pid=$(cat "$work/$node/pid")
        common=(--host 127.0.0.11 --port "$port" --user ftpbench --pass benchpw42 --prefix /Public/bench)
        c0=$(cpu_ticks "$pid")
        out=$("$LOADGEN" bigput "${common[@]}" --up-dir up --size "$bytes")
        c1=$(cpu_ticks "$pid")
        record stor "$node" "$(sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p' <<<"$out")" \
            "$(awk -v t=$((c1 - c0)) -v b="$bytes" 'BEGIN{printf "%.2f", t/100/(b/1e9)}')"
        c0=$(cpu_ticks "$pid")
        out=$("$LOADGEN" bigget "${common[@]}" --file big.bin)
        c1=$(cpu_ticks "$pid")
        record retr "$node" "$(sed -n 's/.*mb_per_s=\([0-9.]*\).*/\1/p' <<<"$out")" \
            "$(awk -v t=$((c1 - c0)) -v b="$bytes" 'BEGIN{printf "%.2f", t/100/(b/1e9)}')"
        c0=$(cpu_ticks "$pid")
        out=$("$LOADGEN" smallput "${common[@]}" --up-dir up --count "$count" --size 4096)
        c1=$(cpu_ticks "$pid")
        record small "$node" "$(sed -n 's/.*files_per_s=\([0-9.]*\).*/\1/p' <<<"$out")" \
            "$(awk -v t=$((c1 - c0)) -v n="$count" 'BEGIN{printf "%.2f", t*10/n}')"
    done
    t0=$(now); rc copyto "$work/big.bin" "g:bench/ceiling/up-$rep.bin"; t1=$(now)
    record stor rclone "$(awk -v a="$t0" -v b="$t1" -v n="$bytes" 'BEGIN{printf "%.1f", n/1e6/(b-a)}')" -
    rm -f "$work/down.bin"
    t0=$(now); rc copyto g:bench/ceiling/big.bin "$work/down.bin"; t1=$(now)
    record retr rclone "$(awk -v a="$t0" -v b="$t1" -v n="$bytes" 'BEGIN{printf "%.1f", n/1e6/(b-a)}')" -
    t0=$(now); rc copy "$work/small" "g:bench/ceiling/small-$rep" --transfers 1 --checkers 1 --no-check-dest; t1=$(now)
    record small rclone "$(awk -v a="$t0" -v b="$t1" -v n="$count" 'BEGIN{printf "%.1f", n/(b-a)}')" -
done

median() { sort -g | awk '{a[NR]=$1} END{ if(NR==0){print "-"; exit} print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2 }'; }
pick() { awk -v w="$1" -v s="$2" -v c="$3" '$1==w && $2==s {print $c}' "$results" | median; }
echo
echo "| workload ($size_mib MiB file, $count x 4 KiB, $reps reps, medians) | ferroftp S3 | ferroftp local | Garage via rclone (ceiling) | S3 / ceiling | ferroftp CPU S3 / local |"
echo "| --- | --- | --- | --- | --- | --- |"
for w in stor retr small; do
    unit="MB/s"; cpu_unit="s/GB"
    [ "$w" = small ] && { unit="files/s"; cpu_unit="ms/file"; }
    s=$(pick "$w" s3 3); l=$(pick "$w" local 3); r=$(pick "$w" rclone 3)
    cs=$(pick "$w" s3 4); cl=$(pick "$w" local 4)
    ratio=$(awk -v a="$s" -v b="$r" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }')
    echo "| $w ($unit) | $s | $l | $r | $ratio | $cs / $cl $cpu_unit |"
done
