#!/usr/bin/env bash
# Installs what the project needs from Debian on a fresh machine (run as root); idempotent.
# debootstrap: builds the lab's Debian sid chroot with Asterisk 22; sip-tester: SIPp phones;
# postgresql: the multi-host store in tests; mosquitto: the MQTT broker in tests;
# python3-venv: the project's virtualenv; chromium: renders the HTML report in a test;
# fonts-wqy-zenhei: Chinese glyphs on that page (接通率, company names).
set -euo pipefail
need=()
for pkg in debootstrap sip-tester postgresql mosquitto python3-venv ca-certificates chromium fonts-wqy-zenhei; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-host: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian postgresql package starts a cluster on 5432; the tests start their own.
