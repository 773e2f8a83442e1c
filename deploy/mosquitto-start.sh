#!/bin/sh
# The mosquitto service's command: on first start, create the dynamic-security configuration
# with its admin account (password from MOSQUITTO_ADMIN_PASSWORD), then run the broker.
# Later starts keep the file: accounts made since (ingest, api, devices) live in it.
# Every start copies the TLS certificate and key from /tls (broker-certs', root's) to where
# the mosquitto user can read them, so a renewed certificate is served after a restart.
set -eu
config=/mosquitto/data/dynamic-security.json
if [ ! -s "$config" ]; then
    : "${MOSQUITTO_ADMIN_PASSWORD:?set MOSQUITTO_ADMIN_PASSWORD in .env}"
    mosquitto_ctrl dynsec init "$config" admin "$MOSQUITTO_ADMIN_PASSWORD" >/dev/null
    # Written by root here; the broker drops to the mosquitto user before reading it.
    chown mosquitto:mosquitto "$config"
    chmod 600 "$config"
    echo "dynamic security initialised with the admin account"
fi
certs=/mosquitto/certs
mkdir -p "$certs"
cp /tls/server.crt /tls/server.key "$certs/"
chown mosquitto:mosquitto "$certs" "$certs/server.crt" "$certs/server.key"
chmod 700 "$certs"
chmod 600 "$certs/server.key"
exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
