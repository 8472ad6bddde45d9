#!/usr/bin/env bash
# Builds the Debian package (cargo deb, installed with `cargo install cargo-deb --locked`
# when missing) and checks what it holds: the binary, the systemd unit, the service user,
# every man page and the completions. Run by scripts/test.sh; prints one line when it passes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "installing cargo-deb" >&2
    cargo install cargo-deb --locked --quiet </dev/null
fi
deb=$(cargo deb --quiet 2>/dev/null </dev/null | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb made no package (got: $deb)" >&2; exit 1; }

contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
expected=(
    ./usr/bin/ferroftp
    ./usr/lib/systemd/system/ferroftp.service
    ./usr/lib/sysusers.d/ferroftp.conf
    ./usr/share/bash-completion/completions/ferroftp
    ./usr/share/zsh/vendor-completions/_ferroftp
    ./usr/share/fish/vendor_completions.d/ferroftp.fish
    ./usr/share/doc/ferroftp/copyright
)
for page in contrib/man/*.1; do
    expected+=("./usr/share/man/man1/$(basename "$page")")
done
missing=0
for path in "${expected[@]}"; do
    if ! grep -qxF -e "$path" -e "$path.gz" <<<"$contents"; then
        echo "$deb lacks $path" >&2
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 1

# The packaged binary runs, and the maintainer scripts create the user before the unit starts.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --extract "$deb" "$tmp/root"
dpkg-deb --control "$deb" "$tmp/control"
version=$("$tmp/root/usr/bin/ferroftp" --version)
[ "$version" = "ferroftp $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)" ] ||
    { echo "packaged binary says: $version" >&2; exit 1; }
grep -q 'systemd-sysusers ferroftp.conf' "$tmp/control/postinst" ||
    { echo "postinst does not create the service user" >&2; exit 1; }
grep -q 'deb-systemd-helper' "$tmp/control/postinst" ||
    { echo "postinst does not enable the unit" >&2; exit 1; }
echo "package ok: $deb (${#expected[@]} files checked)"
