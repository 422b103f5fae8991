#!/bin/sh
# Write the Mosquitto password file from the environment (.env), then run the broker.
# Each gateway, the collector, analytics and the healthcheck get their own user.
set -eu
file=/mosquitto/data/passwd
umask 077
: > "$file"
add() { mosquitto_passwd -b "$file" "$1" "$2"; }
add gw-guixi-1 "$MQTT_GW_GUIXI_1_PASSWORD"
add gw-liuzhou-1 "$MQTT_GW_LIUZHOU_1_PASSWORD"
add gw-conch-1 "$MQTT_GW_CONCH_1_PASSWORD"
add collector "$MQTT_COLLECTOR_PASSWORD"
add analytics "$MQTT_ANALYTICS_PASSWORD"
add monitor "$MQTT_MONITOR_PASSWORD"
chown mosquitto:mosquitto "$file" 2>/dev/null || true
exec mosquitto -c /mosquitto/config/mosquitto.conf
