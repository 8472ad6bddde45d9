#!/usr/bin/env bash
# This machine's ceilings for bench/RESULTS.md: the shared harness's limits.sh (iperf3
# loopback, socat pipe, AES-GCM / ChaCha20 per core, crypt(3) bcrypt per core), bcrypt cost 10
# on every core at once, and the latency of one fsync of a fresh 4 KiB file on the disk
# that holds target/ (what a durable small upload waits for). Prints RESULT lines.
#   bench/limits.sh [--harness DIR] [--reps 3]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
harness="$here/../../shared/bench-anchors"; reps=3
while [ $# -gt 0 ]; do case "$1" in
    --harness) harness=$2; shift 2;; --reps) reps=$2; shift 2;;
    *) echo "bench/limits.sh: unknown option $1" >&2; exit 2;; esac; done
bash "$harness/limits.sh" --reps "$reps"
dir="$here/../target/fsync-probe"; mkdir -p "$dir"
python3 - "$dir" "$(nproc)" <<'PY'
import crypt, os, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
d, cores = sys.argv[1], int(sys.argv[2])
# fsync of a fresh 4 KiB file (contents + size), then of its directory: a durable upload's floor
file_s, dir_s = [], []
for i in range(300):
    p = os.path.join(d, "f%d" % i)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 4096)
    t = time.perf_counter(); os.fsync(fd); file_s.append(time.perf_counter() - t)
    os.close(fd)
    dfd = os.open(d, os.O_RDONLY)
    t = time.perf_counter(); os.fsync(dfd); dir_s.append(time.perf_counter() - t)
    os.close(dfd)
for i in range(300):
    os.unlink(os.path.join(d, "f%d" % i))
for label, v in (("fsync-4k-file", file_s), ("fsync-dir", dir_s)):
    v.sort()
    print("RESULT workload=LIMIT label=%s us_median=%.0f us_p90=%.0f n=%d" % (
        label, v[len(v) // 2] * 1e6, v[len(v) * 9 // 10] * 1e6, len(v)))
# bcrypt cost 10 verifications per second with every core busy (first logins' ceiling)
h = subprocess.run(["mkpasswd", "-m", "bcrypt", "-R", "10", "benchpw42"],
                   capture_output=True, text=True).stdout.strip()
def verify(_):
    return crypt.crypt("benchpw42", h) == h
n = 16 * cores
with ProcessPoolExecutor(cores) as pool:
    t = time.perf_counter(); ok = all(pool.map(verify, range(n))); secs = time.perf_counter() - t
print("RESULT workload=HASH label=bcrypt10-all-cores cores=%d verify_per_s=%.1f ok=%s" % (cores, n / secs, ok))
PY
