#!/usr/bin/env bash
# ferroftp benchmark: builds ferroftp --release, installs vsftpd / pyftpdlib / iperf3 /
# strace if missing, fetches pure-ftpd's binaries, and runs bench/ftpbench.py against all
# servers on 127.0.0.1 (plain FTP and FTPS). Takes ~5-6 minutes. Writes
# bench/results-latest.txt (and .json).
#
#   bench/run.sh                       # everything
#   bench/run.sh --size-mib 256        # smaller transfer file (any ftpbench.py option)
#   BENCH_NO_INSTALL=1 bench/run.sh    # never install anything; skip what is missing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"

echo "[run] building ferroftp (release)" >&2
(cd "$repo" && cargo build --release --quiet)
ferroftp="${CARGO_TARGET_DIR:-$repo/target}/release/ferroftp"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

if [ -z "${BENCH_NO_INSTALL:-}" ]; then
    missing=()
    command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || missing+=(vsftpd)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    command -v strace >/dev/null || missing+=(strace)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "[run] apt-get install ${missing[*]}" >&2
        # the package's service must not start (we run vsftpd ourselves on a loopback port)
        as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}" >&2 \
          || { as_root apt-get update -qq >&2 && as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
                 apt-get install -y -qq "${missing[@]}" >&2; } \
          || echo "[run] could not install ${missing[*]}; those parts are skipped" >&2
    fi
    python3 -c 'import pyftpdlib' 2>/dev/null \
      || python3 -m pip install -q pyftpdlib >&2 \
      || echo "[run] could not install pyftpdlib; skipped" >&2
fi

# pure-ftpd (an FTPS comparison) cannot be installed next to vsftpd: the Debian packages
# conflict (both provide ftp-server). Its binaries are taken from the .deb instead, unpacked
# into a cache dir outside the repo (BENCH_CACHE, default /var/tmp/ferroftp-bench).
if command -v pure-ftpd >/dev/null && command -v pure-pw >/dev/null; then
    export BENCH_PURE_FTPD="$(command -v pure-ftpd)" BENCH_PURE_PW="$(command -v pure-pw)"
else
    pure_root="${BENCH_CACHE:-/var/tmp/ferroftp-bench}/pure-ftpd-root"
    if [ ! -x "$pure_root/usr/sbin/pure-ftpd" ] && [ -z "${BENCH_NO_INSTALL:-}" ] \
        && [ "$(id -u)" = 0 ]; then
        echo "[run] fetching pure-ftpd (apt-get download; unpacked, not installed)" >&2
        cache="$(dirname "$pure_root")"
        mkdir -p "$cache"
        ( cd "$cache" && rm -f pure-ftpd_*.deb \
          && { apt-get download pure-ftpd >/dev/null 2>&1 \
               || { apt-get update -qq >&2 && apt-get download pure-ftpd >/dev/null 2>&1; }; } \
          && deps="$(dpkg-deb -f pure-ftpd_*.deb Depends | tr ',|' '\n\n' \
                     | sed -E 's/\(.*\)//; s/ //g' | grep '^lib' | sort -u | tr '\n' ' ')" \
          && { [ -z "$deps" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $deps >&2; } \
          && rm -rf "$pure_root" && dpkg-deb -x pure-ftpd_*.deb "$pure_root" ) \
          || echo "[run] could not fetch pure-ftpd; it is skipped" >&2
    fi
    if [ -x "$pure_root/usr/sbin/pure-ftpd" ]; then
        export BENCH_PURE_FTPD="$pure_root/usr/sbin/pure-ftpd" BENCH_PURE_PW="$pure_root/usr/bin/pure-pw"
    fi
fi

# vsftpd needs a real local account (PAM login); a throwaway one with a fresh password.
vs_user=ftpbench
if { command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ]; } && [ "$(id -u)" = 0 ]; then
    vs_home=/var/lib/ftpbench   # vsftpd chdirs to the home before local_root: it must exist
    id "$vs_user" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir "$vs_home" \
        --shell /bin/bash "$vs_user"
    usermod --home "$vs_home" "$vs_user"
    mkdir -p "$vs_home" && chown "$vs_user" "$vs_home"
    vs_pass="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "$vs_user:$vs_pass" | chpasswd
    export BENCH_VSFTPD_USER="$vs_user" BENCH_VSFTPD_PASSWORD="$vs_pass"
else
    echo "[run] vsftpd not run (not installed, or not root to create its local account)" >&2
fi

# 1000 idle sessions plus greeting floods: more descriptors than the usual 1024.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

exec timeout --signal=INT --kill-after=30 1500 \
    python3 "$here/ftpbench.py" --ferroftp "$ferroftp" "$@"
