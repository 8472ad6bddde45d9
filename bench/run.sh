#!/usr/bin/env bash
# ferroftp side by side with vsftpd, pure-ftpd, pyftpdlib and unFTP, in one run: the shared
# harness (../shared/bench-anchors, or BENCH_ANCHORS=DIR) builds this checkout --release,
# makes a throwaway instance, and runs every workload (W1-W7, W5 at C=100 and C=1000)
# interleaved with the anchors, then bench/limits.sh measures this machine's ceilings.
# bench/first-logins.sh runs W5 once more with every login paying bcrypt. Writes
# target/bench/summary.md (ratios first), first-logins.txt and limits.txt.
#
#   bench/run.sh                                  # everything, about 45 min on 2 cores
#   bench/run.sh --quick                          # 1 rep, short W5/W6/W7: a smoke run, ~8 min
#   bench/run.sh --workloads "W1 W4" --reps 5     # any run-ferroftp.sh option passes through
#
# The anchors are installed once (install-anchors.sh: /opt/ftpanchors and cargo's unftp; root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
harness="${BENCH_ANCHORS:-$repo/../shared/bench-anchors}"
out="${BENCH_OUT:-$repo/target/bench}"
if [ ! -f "$harness/run-ferroftp.sh" ]; then
    echo "bench/run.sh: no benchmark harness at $harness (set BENCH_ANCHORS=DIR)" >&2
    exit 2
fi
installed=1
[ -d /opt/ftpanchors ] || installed=0
command -v unftp >/dev/null || [ -x "$HOME/.cargo/bin/unftp" ] || installed=0
if [ "$installed" = 0 ]; then
    echo "[bench] installing the anchors (once): $harness/install-anchors.sh" >&2
    bash "$harness/install-anchors.sh" >&2
fi
mkdir -p "$out"
defaults=(--nofsync-twin --w5-conc "100 1000")
for arg in "$@"; do [ "$arg" = --quick ] && defaults=(--nofsync-twin); done
bash "$harness/run-ferroftp.sh" --main "$repo" --out "$out" "${defaults[@]}" "$@"
if [[ " $* " != *" --workloads "* || " $* " == *W5* ]]; then
    echo "[bench] W5 with every login a first login (password_cache = false)" >&2
    bash "$here/first-logins.sh" --harness "$harness" | tee "$out/first-logins.txt"
fi
echo "[bench] machine limits (iperf3, openssl speed, crypt(3), fsync latency)" >&2
bash "$here/limits.sh" --harness "$harness" >"$out/limits.txt"
cat "$out/limits.txt"
echo "[bench] side by side: $out/summary.md; limits: $out/limits.txt" >&2
