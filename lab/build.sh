#!/bin/bash
# Build (once) the pbx-bridge lab: a Debian sid chroot with Asterisk 22.
# Idempotent and cached: does nothing if the marker matches LAB_VERSION.
#   PBX_LAB_DIR  (default /var/cache/pbx-bridge-lab)  -- chroot goes to $PBX_LAB_DIR/chroot
#   PBX_LAB_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

# Bump when the package list or the chroot layout changes: forces a rebuild.
LAB_VERSION="pbx-lab-3:asterisk,asterisk-modules,asterisk-core-sounds-en-gsm"
CHROOT_PKGS="asterisk asterisk-modules asterisk-core-sounds-en-gsm"
HOST_PKGS="debootstrap sip-tester"

LAB_DIR="${PBX_LAB_DIR:-/var/cache/pbx-bridge-lab}"
ROOT="$LAB_DIR/chroot"
MARK="$ROOT/.lab-ready"
MIRROR="${PBX_LAB_MIRROR:-http://deb.debian.org/debian}"
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o Acquire::Retries=3)

die() { echo "lab/build.sh: ERROR: $*" >&2; exit 1; }
t0=$(date +%s.%N)
elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - $1" | bc 2>/dev/null || echo 0)"; }
step() { echo "lab/build.sh: [$(elapsed "$t0")s] $*"; }

if [ -f "$MARK" ] && [ "$(cat "$MARK")" = "$LAB_VERSION" ]; then
    step "lab chroot ready ($ROOT, $LAB_VERSION), nothing to do"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"

missing=()
for p in $HOST_PKGS bc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "host apt-get update failed"
    apt-get install -y -qq "${missing[@]}" >/dev/null || die "host apt-get install ${missing[*]} failed"
fi

# Stale/partial chroot: unmount anything inside and start over.
if [ -d "$ROOT" ]; then
    step "removing stale chroot $ROOT"
    for m in $(awk -v r="$ROOT" '$2 ~ "^"r {print $2}' /proc/mounts | sort -r); do umount -l "$m" || true; done
    rm -rf --one-file-system "$ROOT"
fi
mkdir -p "$LAB_DIR"

step "debootstrap --variant=minbase sid $ROOT $MIRROR"
ts=$(date +%s.%N)
debootstrap --variant=minbase sid "$ROOT" "$MIRROR" > "$LAB_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$LAB_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $LAB_DIR/debootstrap.log)"; }
step "debootstrap done in $(elapsed "$ts")s"

ts=$(date +%s.%N)
# policy-rc.d: never start services inside the chroot during install
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update -qq \
    > "$LAB_DIR/apt.log" 2>&1 || { tail -20 "$LAB_DIR/apt.log" >&2; die "chroot apt-get update failed"; }
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q \
    --no-install-recommends $CHROOT_PKGS >> "$LAB_DIR/apt.log" 2>&1 \
    || { tail -20 "$LAB_DIR/apt.log" >&2; die "chroot apt-get install $CHROOT_PKGS failed (log: $LAB_DIR/apt.log)"; }
chroot "$ROOT" apt-get clean
step "asterisk installed in $(elapsed "$ts")s: $(chroot "$ROOT" dpkg-query -W -f='${Version}' asterisk)"

chroot "$ROOT" mkdir -p /var/run/asterisk /etc/pbx-lab
echo "$LAB_VERSION" > "$MARK"
step "lab chroot ready: $ROOT (total $(elapsed "$t0")s)"
