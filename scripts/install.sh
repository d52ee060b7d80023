#!/usr/bin/env bash
# Installs pbx-bridge on a PBX host (as root), or stages it under DESTDIR. `make install` runs it.
#
#   DESTDIR=DIR     stage under DIR: no accounts, no chown, no systemctl (default: the host itself)
#   PREFIX=DIR      the virtualenv with the package (default /opt/pbx-bridge); the unit's
#                   ExecStart and the classic AGI script follow it
#   PYTHON=PATH     the Python (3.11+) for the virtualenv (default /usr/bin/python3). It must not
#                   live under /root or /home: the unit runs with ProtectHome=yes
#   WHEELHOUSE=DIR  install offline from wheels in DIR (pip --no-index --find-links DIR), made on a
#                   connected machine by `make wheelhouse WHEELHOUSE=DIR`; without it pip fetches
#                   the dependencies from PyPI (or the index pip is configured with)
#   PBX_BRIDGE_INSTALL_SKIP_VENV=1    leave the virtualenv out (tests)
#   PBX_BRIDGE_INSTALL_ACCOUNTS=yes|no  create the user and chown even under DESTDIR (tests, with
#                   stand-in commands), or not even on the host; default: yes without DESTDIR
#   --uninstall     remove the virtualenv, the unit, the AGI script and the docs; keep the
#                   configuration, the AMI secret, the data, the Asterisk snippets and the user
#
# A file the site may have edited is never replaced: /etc/pbx-bridge/{config,rota}.yaml, the AMI
# and FastAGI secrets, /etc/asterisk/*_pbx_bridge.conf. The shipped versions are always in
# /usr/share/doc/pbx-bridge/ to compare with. Running it again upgrades the package in place.
set -euo pipefail
# The virtualenv and the shared directories must be readable by the daemon's user and Asterisk,
# whatever root's own umask is; the files that must not be are given their modes explicitly.
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
PREFIX=${PREFIX:-/opt/pbx-bridge}
PREFIX=${PREFIX%/}
PYTHON=${PYTHON:-/usr/bin/python3}
WHEELHOUSE=${WHEELHOUSE:-}
NAME=pbx-bridge
ETC=/etc/pbx-bridge
ASTERISK_ETC=/etc/asterisk
UNIT=/etc/systemd/system/pbx-bridge.service
STATE=/var/lib/pbx-bridge
DOC=/usr/share/doc/pbx-bridge
AGI=/usr/share/pbx-bridge/agi
SHIPPED_PREFIX=/opt/pbx-bridge  # what systemd/pbx-bridge.service says
SECRET_PLACEHOLDER=CHANGE-ME-pbx-bridge-secret  # what dialplan/manager_pbx_bridge.conf says

if [ -z "$DESTDIR" ]; then default_accounts=yes; else default_accounts=no; fi
ACCOUNTS=${PBX_BRIDGE_INSTALL_ACCOUNTS:-$default_accounts}

say() { echo "install: $*"; }
note() { NOTES+=("$*"); }
die() { echo "install: error: $*" >&2; exit 1; }
NOTES=()

case "$PREFIX" in
    /*) ;;
    *) die "PREFIX must be an absolute path, not '$PREFIX'" ;;
esac
[ "$PREFIX" != "" ] && [ "$PREFIX" != "/" ] || die "PREFIX must not be /"

# chown only where accounts are managed (on the host); a staged tree keeps the invoker's owner
own() {
    if [ "$ACCOUNTS" = yes ]; then chown "$1" "$2"; fi
}

asterisk_group() {
    [ "$ACCOUNTS" = yes ] && getent group asterisk >/dev/null
}

# a directory the host shares with others (/etc/asterisk, ...): made when missing, never re-moded
ensure_dir() {
    [ -d "$1" ] || install -d -m 0755 "$1"
}

systemd_running() {
    [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

uninstall() {
    if systemd_running && systemctl cat "$NAME.service" >/dev/null 2>&1; then
        systemctl disable --now "$NAME.service" || true
    fi
    local venv=$DESTDIR$PREFIX
    if [ -f "$venv/pyvenv.cfg" ] && [ -e "$venv/bin/pbx-bridge" ]; then
        rm -rf -- "$venv"
        say "removed $PREFIX"
    elif [ -e "$venv" ]; then
        say "left $PREFIX: not a pbx-bridge virtualenv"
    fi
    rm -f -- "$DESTDIR$UNIT" "$DESTDIR$AGI/ring_twice.py"
    rmdir -- "$DESTDIR$AGI" "$DESTDIR$(dirname "$AGI")" 2>/dev/null || true
    rm -rf -- "$DESTDIR$DOC"
    if systemd_running; then systemctl daemon-reload; fi
    say "removed the unit, the AGI script and the docs"
    say "kept: $ETC (configuration, AMI and FastAGI secrets), $STATE (the data), $ASTERISK_ETC/*pbx_bridge*.conf"
    say "      (remove the #include lines first), and the user $NAME"
}

if [ "${1:-}" = "--uninstall" ]; then
    uninstall
    exit 0
fi
[ $# -eq 0 ] || die "unknown argument '$1' (only --uninstall)"

if [ "$ACCOUNTS" = yes ] && [ "$(id -u)" != 0 ]; then
    die "run as root, or stage the files with DESTDIR=DIR"
fi

# --- the user -----------------------------------------------------------------------------
if [ "$ACCOUNTS" = yes ]; then
    if ! getent group "$NAME" >/dev/null; then
        groupadd --system "$NAME"
        say "created group $NAME"
    fi
    if ! getent passwd "$NAME" >/dev/null; then
        useradd --system --gid "$NAME" --home-dir "$STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "pbx-bridge daemon" "$NAME"
        say "created user $NAME"
    fi
    if getent group asterisk >/dev/null; then
        # queue_log and the voicemail spool are the asterisk group's
        usermod --append --groups asterisk "$NAME"
        say "$NAME is in the group asterisk"
    else
        note "no group asterisk here: add $NAME to the group that owns /var/spool/asterisk/voicemail"
    fi
else
    note "accounts skipped (staged under DESTDIR): create the system user and group $NAME, add it to the group asterisk, and chown $ETC root:$NAME and $STATE $NAME:$NAME on the host"
fi

# --- the package, in its own virtualenv ----------------------------------------------------------
if [ "${PBX_BRIDGE_INSTALL_SKIP_VENV:-}" = 1 ]; then
    note "virtualenv skipped (PBX_BRIDGE_INSTALL_SKIP_VENV=1): $PREFIX has no package"
else
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than Python 3.11"
    base=$("$PYTHON" -c 'import sys; print(sys.base_prefix)')
    case "$base" in
        /root|/root/*|/home|/home/*)
            die "$PYTHON lives in $base, which the service cannot see (ProtectHome=yes); use the system's python3" ;;
    esac
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
        || die "$PYTHON cannot make a virtualenv: apt-get install python3-venv"
    if [ -n "$WHEELHOUSE" ]; then
        [ -d "$WHEELHOUSE" ] || die "WHEELHOUSE $WHEELHOUSE is not a directory (make wheelhouse WHEELHOUSE=DIR makes one)"
        WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
    fi
    venv=$DESTDIR$PREFIX
    say "virtualenv $PREFIX with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$venv"
    pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
    if [ -n "$WHEELHOUSE" ]; then
        pip+=(install --no-index --find-links "$WHEELHOUSE")
    else
        pip+=(install)
    fi
    # --no-compile: byte-compiled below, with the paths the files will have on the host
    "${pip[@]}" --no-compile --upgrade --force-reinstall --no-deps "$SRC" >/dev/null
    "${pip[@]}" --no-compile "$SRC"
    if [ -n "$DESTDIR" ]; then
        # a virtualenv is not relocatable: its scripts name their interpreter by full path
        grep -rlF -- "$venv" "$venv/bin" "$venv/pyvenv.cfg" 2>/dev/null | while read -r file; do
            sed -i "s|$venv|$PREFIX|g" "$file"
        done
        "$venv/bin/python" -m compileall -q -s "$DESTDIR" -p / "$venv/lib" >/dev/null || true
    else
        "$venv/bin/python" -m compileall -q "$venv/lib" >/dev/null || true
    fi
    say "installed $("$venv/bin/python" -m pip --disable-pip-version-check list 2>/dev/null | grep -i '^pbx-bridge ' | tr -s ' ')"
fi

# --- configuration --------------------------------------------------------------------------------
install -d -m 0750 "$DESTDIR$ETC"
own "root:$NAME" "$DESTDIR$ETC"

# install_keep MODE OWNER SRC DEST: only when DEST is not there yet (the site's copy wins)
install_keep() {
    local mode=$1 owner=$2 src=$3 dest=$4
    if [ -e "$DESTDIR$dest" ]; then
        if ! cmp -s "$src" "$DESTDIR$dest"; then
            note "kept $dest (the site's); the shipped one is in $DOC"
        fi
        return 1
    fi
    install -m "$mode" "$src" "$DESTDIR$dest"
    own "$owner" "$DESTDIR$dest"
    say "installed $dest"
}

install_keep 0640 "root:$NAME" "$SRC/config.example.yaml" "$ETC/config.yaml" || true
install_keep 0640 "root:$NAME" "$SRC/rota.example.yaml" "$ETC/rota.yaml" || true

# The AMI secret: a random one on first install, shared by the daemon and the manager user below.
# A secret is never put on a command line (sed, grep: any user sees it in ps or /proc/PID/cmdline
# while they run): only bash builtins touch it, fill_in and has_text.

# fill_in PLACEHOLDER VALUE < SRC > DEST: SRC with every PLACEHOLDER replaced by VALUE, as it is
fill_in() {
    local line
    shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: no & in VALUE standing for the match
    while IFS= read -r line; do
        printf '%s\n' "${line//"$1"/"$2"}"
    done
    if [ -n "$line" ]; then printf '%s' "${line//"$1"/"$2"}"; fi  # a last line without its newline
}

# has_text TEXT < FILE: whether FILE has TEXT in one of its lines
has_text() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        [[ $line == *"$1"* ]] && return 0
    done
    return 1
}

# 32 letters and digits from /dev/urandom, printed (captured by $(...): never an argument).
random_secret() {
    local made
    made=$(LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32 || true)
    [ ${#made} -eq 32 ] || die "could not make a secret from /dev/urandom"
    printf '%s' "$made"
}

if [ -s "$DESTDIR$ETC/ami-secret" ]; then
    secret=$(tr -d '\r\n' < "$DESTDIR$ETC/ami-secret")
    note "kept $ETC/ami-secret"
else
    secret=$(random_secret)
    (umask 077 && printf '%s\n' "$secret" > "$DESTDIR$ETC/ami-secret")
    chmod 0640 "$DESTDIR$ETC/ami-secret"
    own "root:$NAME" "$DESTDIR$ETC/ami-secret"
    say "installed $ETC/ami-secret (a new random secret, also in $ASTERISK_ETC/manager_pbx_bridge.conf)"
fi

install -d -m 0750 "$DESTDIR$STATE"
own "$NAME:$NAME" "$DESTDIR$STATE"

# --- the unit ---------------------------------------------------------------------------------
ensure_dir "$DESTDIR$(dirname "$UNIT")"
sed "s|$SHIPPED_PREFIX/bin/|$PREFIX/bin/|g" "$SRC/systemd/pbx-bridge.service" > "$DESTDIR$UNIT.tmp"
chmod 0644 "$DESTDIR$UNIT.tmp"
mv -f "$DESTDIR$UNIT.tmp" "$DESTDIR$UNIT"
say "installed $UNIT (site changes go in a drop-in: systemctl edit pbx-bridge)"

# --- the Asterisk side ------------------------------------------------------------------------
ensure_dir "$DESTDIR$ASTERISK_ETC"
if asterisk_group; then asterisk_owner=root:asterisk; else asterisk_owner=root:root; fi
includes=()
for src in "$SRC"/dialplan/*_pbx_bridge.conf; do
    base=$(basename "$src")
    dest=$ASTERISK_ETC/$base
    tmp=$(mktemp)
    fill_in "$SECRET_PLACEHOLDER" "$secret" < "$src" > "$tmp"
    if install_keep 0640 "$asterisk_owner" "$tmp" "$dest"; then :; fi
    rm -f "$tmp"
    includes+=("$ASTERISK_ETC/${base%_pbx_bridge.conf}.conf:  #include $base")
done
if [ -e "$DESTDIR$ASTERISK_ETC/manager_pbx_bridge.conf" ] \
    && ! has_text "secret = $secret" < "$DESTDIR$ASTERISK_ETC/manager_pbx_bridge.conf"; then
    note "the secret in $ASTERISK_ETC/manager_pbx_bridge.conf differs from $ETC/ami-secret: make them the same"
fi

# --- the FastAGI secret ---------------------------------------------------------------------------
# One random secret, two copies: the daemon's ($ETC/agi-secret, root:pbx-bridge) and Asterisk's
# (pbx_bridge_agi_secret.conf, readable by Asterisk only), the line the site #includes inside its
# [globals]; the dialplan sends it with every AGI call. Only bash builtins (read, printf, [) ever
# hold it: it is never an argument of a command, where ps or /proc/*/cmdline would show it.
AGI_SECRET_FILE=$ETC/agi-secret
AGI_SECRET_CONF=$ASTERISK_ETC/pbx_bridge_agi_secret.conf
install_agi_secret() {
    local daemon=$DESTDIR$AGI_SECRET_FILE conf=$DESTDIR$AGI_SECRET_CONF agi_secret="" line=""
    if [ -s "$daemon" ]; then
        IFS= read -r agi_secret < "$daemon" || true
        note "kept $AGI_SECRET_FILE"
    elif [ -e "$conf" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            case "$line" in PBXB_AGI_SECRET=*) agi_secret=${line#PBXB_AGI_SECRET=} ;; esac
        done < "$conf"
    fi
    if [ ! -s "$daemon" ]; then
        if [ -z "$agi_secret" ]; then
            agi_secret=$(random_secret)
        fi
        (umask 077 && printf '%s\n' "$agi_secret" > "$daemon")
        chmod 0640 "$daemon"
        own "root:$NAME" "$daemon"
        say "installed $AGI_SECRET_FILE (the FastAGI secret, also in $AGI_SECRET_CONF)"
    fi
    if [ -e "$conf" ]; then
        local same=no
        while IFS= read -r line || [ -n "$line" ]; do
            if [ "$line" = "PBXB_AGI_SECRET=$agi_secret" ]; then same=yes; fi
        done < "$conf"
        [ "$same" = yes ] || note "the secret in $AGI_SECRET_CONF differs from $AGI_SECRET_FILE: make them the same"
        return 0
    fi
    (umask 077 && printf '%s\n' \
        "; pbx-bridge: the FastAGI secret (make install). Include this file INSIDE the [globals] section" \
        "; of extensions.conf; the daemon has the same secret in $AGI_SECRET_FILE." \
        "PBXB_AGI_SECRET=$agi_secret" > "$conf")
    chmod 0640 "$conf"
    own "$asterisk_owner" "$conf"
    say "installed $AGI_SECRET_CONF (readable by Asterisk only)"
}
install_agi_secret
includes+=("$ASTERISK_ETC/extensions.conf, INSIDE [globals]:  #include $(basename "$AGI_SECRET_CONF")")
if [ -e "$DESTDIR$ETC/config.yaml" ] && ! grep -qF "$AGI_SECRET_FILE" "$DESTDIR$ETC/config.yaml"; then
    note "$ETC/config.yaml has no agi.secret_file: add 'secret_file: $AGI_SECRET_FILE' under agi: (the daemon refuses to start without a FastAGI secret)"
fi

# --- classic AGI script and docs ----------------------------------------------------------------
install -d -m 0755 "$DESTDIR$AGI"
sed "1s|.*|#!$PREFIX/bin/python|" "$SRC/agi_scripts/ring_twice.py" > "$DESTDIR$AGI/ring_twice.py"
chmod 0755 "$DESTDIR$AGI/ring_twice.py"
install -d -m 0755 "$DESTDIR$DOC" "$DESTDIR$DOC/dialplan"
install -m 0644 "$SRC/README.md" "$SRC/config.example.yaml" "$SRC/rota.example.yaml" "$SRC/screening.example.yaml" \
    "$DESTDIR$DOC/"
install -d -m 0755 "$DESTDIR$DOC/docs"
install -m 0644 "$SRC"/docs/*.md "$SRC"/docs/*.png "$DESTDIR$DOC/docs/"
install -m 0644 "$SRC"/dialplan/*.conf "$DESTDIR$DOC/dialplan/"
install -d -m 0755 "$DESTDIR$DOC/wallboard"
install -m 0644 "$SRC"/wallboard/* "$DESTDIR$DOC/wallboard/"

# --- systemd ----------------------------------------------------------------------------------
if systemd_running; then
    systemctl daemon-reload
    say "systemctl daemon-reload"
else
    note "no daemon-reload (staged, or systemd is not running here)"
fi

echo
for line in "${NOTES[@]}"; do echo "note: $line"; done
cat <<EOF

Next steps:
1. Add the includes to Asterisk's files (at the end of each):
$(printf '     %s\n' "${includes[@]}")
   manager.conf [general] needs: enabled = yes, bindaddr = 127.0.0.1, timestampevents = yes.
   Include the context [pbx-bridge-agent-features] in the agents' phones' context, and point
   inbound calls at [pbx-bridge-inbound]. Then: asterisk -rx 'core reload'
2. Edit $ETC/config.yaml (pbx id, timezone; voicemail.enabled and $ETC/rota.yaml for the rota),
   then check it as the daemon's user:
     runuser -u $NAME -- $PREFIX/bin/pbx-bridge config check -c $ETC/config.yaml
3. systemctl enable --now pbx-bridge; systemctl status pbx-bridge; journalctl -u pbx-bridge
EOF
