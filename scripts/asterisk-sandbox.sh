#!/usr/bin/env bash
# Makes an Asterisk >= 20 available for `make run` / `make test`.
#
# - If an `asterisk` of version >= 20 is on PATH, that one is used and nothing is built.
# - Otherwise a minimal Debian sid root filesystem with Asterisk 22 (Debian bookworm ships none) is
#   built once with debootstrap and cached at ${HOLDFAST_CACHE:-$HOME/.cache/holdfast}/asterisk-root.
#   app/sandbox/asterisk.py finds it there and runs `chroot ROOT asterisk -f -C CONF`.
#
# Idempotent and fast when cached: the root is built in a temporary directory next to the final one
# and renamed into place only when complete (a stamp file inside marks a finished build), so a run
# that was interrupted leaves nothing that a later run would mistake for a usable root.
# Needs root (debootstrap and chroot). Non-interactive; suitable for CI.
#
# Environment:
#   HOLDFAST_CACHE       cache directory (default $HOME/.cache/holdfast)
#   HOLDFAST_MIRROR      Debian mirror to debootstrap from (default: taken from apt sources)
#   HOLDFAST_SUITE       Debian suite (default sid)
#   HOLDFAST_FORCE_SANDBOX=1  build/use the sandbox even when a system asterisk exists
set -euo pipefail

CACHE="${HOLDFAST_CACHE:-$HOME/.cache/holdfast}"
ROOT="$CACHE/asterisk-root"
STAMP_NAME=".holdfast-asterisk-root"
SUITE="${HOLDFAST_SUITE:-sid}"
# Bump when the package list changes so cached roots are rebuilt.
ROOT_VERSION=1

log() { printf 'asterisk-sandbox: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

major_of() { sed -n 's/^Asterisk \([0-9][0-9]*\)\..*/\1/p' | head -n1; }

# 1. A system Asterisk that is new enough wins.
if [ "${HOLDFAST_FORCE_SANDBOX:-0}" != 1 ] && command -v asterisk >/dev/null 2>&1; then
  ver="$(asterisk -V 2>/dev/null || true)"
  major="$(printf '%s\n' "$ver" | major_of)"
  if [ -n "$major" ] && [ "$major" -ge 20 ]; then
    echo "Using system $ver ($(command -v asterisk))"
    exit 0
  fi
  log "ignoring system asterisk '${ver:-unknown version}': need >= 20"
fi

# 2. Cached sandbox root.
cached_version() {
  [ -f "$ROOT/$STAMP_NAME" ] && grep -qx "root_version=$ROOT_VERSION" "$ROOT/$STAMP_NAME" || return 1
  local v
  v="$(chroot "$ROOT" asterisk -V 2>/dev/null || true)"
  printf '%s\n' "$v" | grep -q '^Asterisk ' || return 1
  printf '%s\n' "$v"
}
if ver="$(cached_version)"; then
  echo "Using sandbox $ver ($ROOT)"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building the Asterisk sandbox needs root (debootstrap, chroot); run: sudo make asterisk"

export DEBIAN_FRONTEND=noninteractive

pick_mirror() {
  if [ -n "${HOLDFAST_MIRROR:-}" ]; then echo "$HOLDFAST_MIRROR"; return; fi
  local uri=""
  # deb822 sources: the first URIs entry that is the main archive (not -security, not a third party).
  local f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri="$(sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' | grep -E '/debian/?$' | head -n1 || true)"
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      uri="$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f" \
        | grep -E '/debian/?$' | head -n1 || true)"
      [ -n "$uri" ] && break
    done
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt-get update -qq || true
  apt-get install -y -qq debootstrap >/dev/null
fi

MIRROR="$(pick_mirror)"
MIRROR="${MIRROR%/}"
mkdir -p "$CACHE"

# One build at a time (parallel `make test`s): wait for the lock, then look again.
exec 9>"$CACHE/asterisk-root.lock"
flock 9
if ver="$(cached_version)"; then
  echo "Using sandbox $ver ($ROOT)"
  exit 0
fi
[ -e "$ROOT" ] && log "existing $ROOT is incomplete or outdated; rebuilding"

# Remove leftovers of interrupted runs (safe: we hold the lock; unmount anything still mounted).
cleanup_dir() {
  local d="$1"
  [ -d "$d" ] || return 0
  local m
  for m in proc sys dev/pts dev; do
    mountpoint -q "$d/$m" 2>/dev/null && umount -l "$d/$m" || true
  done
  rm -rf --one-file-system "$d"
}
for old in "$CACHE"/asterisk-root.tmp.* "$CACHE"/asterisk-root.old.*; do
  [ -e "$old" ] && { log "removing leftover $old"; cleanup_dir "$old"; }
done

TMP="$(mktemp -d "$CACHE/asterisk-root.tmp.XXXXXX")"
chmod 755 "$TMP"
trap 'cleanup_dir "$TMP"' EXIT

start=$(date +%s)
log "debootstrap --variant=minbase $SUITE from $MIRROR (into $TMP)"
if ! debootstrap --variant=minbase "$SUITE" "$TMP" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
  tail -n 30 "$CACHE/debootstrap.log" >&2 || true
  [ -f "$TMP/debootstrap/debootstrap.log" ] && tail -n 30 "$TMP/debootstrap/debootstrap.log" >&2
  die "debootstrap failed (full log: $CACHE/debootstrap.log)"
fi

# The chroot only needs to fetch packages; DNS comes from the host.
cp -L /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
echo "deb $MIRROR $SUITE main" >"$TMP/etc/apt/sources.list"
# Mirrors behind a pinned snapshot serve a Release whose Valid-Until has passed; the signature is
# still checked, only the freshness window is not. apt's download sandbox user is pointless here.
cat >"$TMP/etc/apt/apt.conf.d/99holdfast" <<'APT'
Acquire::Check-Valid-Until "false";
APT::Sandbox::User "root";
APT::Install-Recommends "false";
APT
# Never start services inside the chroot during package installation.
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod +x "$TMP/usr/sbin/policy-rc.d"

in_root() { chroot "$TMP" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

log "apt-get update in the root"
in_root apt-get update -qq

# Sounds: prefer the wav (slin) flavours so playback needs no lossy transcoding; fall back to what exists.
pkgs=(asterisk)
for candidates in "asterisk-core-sounds-en-wav asterisk-core-sounds-en-gsm asterisk-core-sounds-en" \
                  "asterisk-moh-opsound-wav asterisk-moh-opsound-gsm"; do
  for p in $candidates; do
    if in_root apt-cache show "$p" >/dev/null 2>&1; then pkgs+=("$p"); break; fi
  done
done
for p in sox; do
  in_root apt-cache show "$p" >/dev/null 2>&1 && pkgs+=("$p")
done
log "installing: ${pkgs[*]}"
if ! in_root apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$CACHE/apt-install.log" 2>&1; then
  tail -n 30 "$CACHE/apt-install.log" >&2
  die "package installation in the root failed (full log: $CACHE/apt-install.log)"
fi
in_root apt-get clean

ver="$(chroot "$TMP" asterisk -V)"
printf '%s\n' "$ver" | grep -q '^Asterisk ' || die "asterisk in the new root does not run: '$ver'"
{
  echo "root_version=$ROOT_VERSION"
  echo "asterisk=$ver"
  echo "suite=$SUITE"
  echo "mirror=$MIRROR"
  echo "packages=${pkgs[*]}"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$TMP/$STAMP_NAME.tmp"
mv "$TMP/$STAMP_NAME.tmp" "$TMP/$STAMP_NAME"

# Swap into place: move an old root aside first so the final rename is atomic.
if [ -e "$ROOT" ]; then
  OLD="$CACHE/asterisk-root.old.$$"
  mv "$ROOT" "$OLD"
  cleanup_dir "$OLD"
fi
mv "$TMP" "$ROOT"
trap - EXIT

echo "Built sandbox $ver at $ROOT in $(( $(date +%s) - start ))s"
