#!/usr/bin/env bash
# Installs the Debian packages the tests need (real Mosquitto, InfluxDB 1.x, headless Chromium)
# when they are missing and we are root; otherwise says exactly what to install.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v influx >/dev/null 2>&1 || need+=(influxdb-client)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The plants' names are Chinese: without a CJK font the screenshots show boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the services it installs where an init system runs; the tests start their own.
for service in mosquitto influxdb; do
  if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
