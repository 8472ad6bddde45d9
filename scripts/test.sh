#!/usr/bin/env bash
# The test command (README): installs the external FTP clients and servers the tests
# drive (curl, lftp, rclone, wget, ncftp, tnftp, python3, tmux, haproxy; pyftpdlib and aioftp from pip),
# systemd-analyze for the unit file, cargo-deb for the package check, Garage (S3) for
# the scale-out tests,
# Debian's chromium and the npm
# packages of tests/browser (playwright-core, no browser download) for the web client's
# end-to-end test, then runs every test target.
# Idempotent and quiet when everything is present; works as root with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v lftp >/dev/null 2>&1 || missing+=(lftp)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
command -v wget >/dev/null 2>&1 || missing+=(wget)
command -v ncftpget >/dev/null 2>&1 || missing+=(ncftp)
command -v tnftp >/dev/null 2>&1 || missing+=(tnftp)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# The systemd unit is checked with systemd-analyze; tests stop servers with pkill.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v pkill >/dev/null 2>&1 || missing+=(procps)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
# The shipped fail2ban filter is tested against real log lines with fail2ban-regex.
command -v fail2ban-regex >/dev/null 2>&1 || missing+=(fail2ban)
# PROXY protocol and scale-out tests put Debian's HAProxy in front of the server.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# The web client's end-to-end test: a real headless Chromium, driven from Node.js.
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# pip, only when pyftpdlib or aioftp is not there yet.
if ! python3 -c 'import pyftpdlib, aioftp' >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

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

# pyftpdlib: the independent server `ferroftp client` is tested against; aioftp: an
# asyncio FTP client the server is tested with.
for module in pyftpdlib aioftp; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        echo "installing $module" >&2
        if ! python3 -m pip install --quiet --disable-pip-version-check "$module" </dev/null >/dev/null 2>&1 &&
            ! python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
                "$module" </dev/null >/dev/null 2>&1; then
            echo "cannot install $module (python3 -m pip install $module)" >&2
            exit 1
        fi
    fi
done

# Garage, the S3 store the scale-out tests run as a three-node cluster (an external test
# service, not linked): built from crates.io once, about 9 minutes on a 2-core machine.
if ! command -v garage >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/garage" ]; then
    echo "installing garage (cargo install --locked garage; takes a while once)" >&2
    log=$(mktemp)
    if ! cargo install --locked --quiet garage </dev/null >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "cannot install garage (cargo install --locked garage)" >&2
        exit 1
    fi
    rm -f "$log"
fi

# playwright-core for tests/browser/e2e.mjs, exactly as package-lock.json says.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "installing tests/browser npm packages" >&2
    log=$(mktemp)
    if ! (cd tests/browser && npm ci --silent --no-audit --no-fund) </dev/null >"$log" 2>&1; then
        cat "$log" >&2
        echo "cannot install tests/browser packages (cd tests/browser && npm ci)" >&2
        exit 1
    fi
    rm -f "$log"
fi

status=0
cargo test --all-targets "$@" </dev/null || status=$?
# The whole suite (no arguments) also builds and inspects the Debian package.
if [ "$#" -eq 0 ] && [ "$status" -eq 0 ]; then
    ./scripts/check-package.sh || status=$?
fi
exit "$status"
