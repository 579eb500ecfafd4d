#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the Debian package from a clean copy of the source tree, check it with
# lintian, then install it, enable it with a2enmod, run apache2ctl configtest,
# and purge it again, leaving /etc/apache2 as it was.
#
# Usage: scripts/deb.sh [--build-only]
# Environment:
#   OBO_DEB_DIR     work directory (default /tmp/mod_auth_obo-deb); the .deb
#                   and the lintian report stay there
#   OBO_SKIP_APT=1  never call apt-get (build dependencies must be present)
# Needs root for the install check (and to install missing build
# dependencies). Exit status is non-zero if anything fails, including a
# lintian error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${OBO_DEB_DIR:-/tmp/mod_auth_obo-deb}
PKG=libapache2-mod-auth-obo
BUILD_ONLY=0
if [[ ${1:-} == --build-only ]]; then BUILD_ONLY=1; shift; fi

say() { printf '\n==> %s\n' "$*"; }
apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# ------------------------------------------------ a clean copy of the tree
# Tracked and new (not ignored) files only, so nothing built in the working
# tree (configure, objects) reaches the package: as from a fresh clone.
say "source copy ($WORK/src)"
rm -rf "$WORK"
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf -) | tar -C "$WORK/src" -xf -

# -------------------------------------------------- build dependencies
if [[ ${OBO_SKIP_APT:-0} != 1 && $(id -u) == 0 ]]; then
    need=()
    for p in dpkg-dev debhelper lintian; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    if ((${#need[@]})) || ! (cd "$WORK/src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
        say "installing build dependencies"
        apt_get update -qq
        ((${#need[@]})) && apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
        apt_get build-dep -y -qq "$WORK/src" >/dev/null
    fi
fi

# --------------------------------------------------------------- build
say "dpkg-buildpackage -us -uc -b"
start=$(date +%s)
(cd "$WORK/src" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1 || {
    tail -50 "$WORK/build.log"; echo "error: dpkg-buildpackage failed ($WORK/build.log)" >&2; exit 1; }
echo "built in $(($(date +%s) - start)) s"
DEB=$(ls "$WORK"/${PKG}_*.deb)
CHANGES=$(ls "$WORK"/*.changes)
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p'
dpkg-deb --contents "$DEB" | tee "$WORK/contents.txt"
# Prometheus reads the shipped alert rules as they are: never gzipped
grep -q 'docs/prometheus-alerts\.yml$' "$WORK/contents.txt" || {
    echo "error: docs/prometheus-alerts.yml is not in the package uncompressed" >&2; exit 1; }

# ------------------------------------------------------------- lintian
say "lintian"
lintian --info "$CHANGES" | tee "$WORK/lintian.txt" || true
if grep -q '^E: ' "$WORK/lintian.txt"; then
    echo "error: lintian reports errors" >&2
    exit 1
fi
((BUILD_ONLY)) && exit 0

# ------------------------------------------- install, enable, configtest
[[ $(id -u) == 0 ]] || { echo "error: the install check needs root" >&2; exit 1; }
MODS=/etc/apache2/mods-enabled
had_shmcb=0; [[ -e $MODS/socache_shmcb.load ]] && had_shmcb=1
dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed' && {
    echo "error: $PKG is already installed; not touching it" >&2; exit 1; }

cleanup() {
    say "purge and restore"
    a2dismod -q -f auth_obo >/dev/null 2>&1 || true
    apt_get purge -y -qq "$PKG" >/dev/null 2>&1 || dpkg --purge "$PKG" || true
    if ((!had_shmcb)) && [[ -e $MODS/socache_shmcb.load ]]; then
        a2dismod -q -f socache_shmcb >/dev/null || true
    fi
    if [[ -e /etc/apache2/mods-available/auth_obo.load || -e $MODS/auth_obo.load ||
          -e /usr/lib/apache2/modules/mod_auth_obo.so ]]; then
        echo "error: files of $PKG left behind" >&2; exit 1
    fi
}
trap cleanup EXIT

say "install $(basename "$DEB")"
apt_get install -y -qq "$DEB" >/dev/null
[[ ! -e $MODS/auth_obo.load ]] || { echo "error: installing enabled the module" >&2; exit 1; }
a2enmod auth_obo
[[ -e $MODS/auth_obo.load && -e $MODS/socache_shmcb.load ]] ||
    { echo "error: a2enmod did not enable auth_obo and socache_shmcb" >&2; exit 1; }
out=$(apache2ctl configtest 2>&1) || { echo "$out"; echo "error: configtest failed" >&2; exit 1; }
echo "$out"
grep -q 'Syntax OK' <<<"$out"
# the module really loads: httpd lists it
apache2ctl -M 2>/dev/null | grep -q 'auth_obo_module' ||
    { echo "error: apache2ctl -M does not list auth_obo_module" >&2; exit 1; }
echo "auth_obo_module loads; package OK"
