#!/bin/sh
# The emqx-prepare service's command (compose profile `scale`), as root, before EMQX starts:
# EMQX's own copy of broker-certs' certificate and key, and the bootstrap file of the REST API
# key tickwire manages broker accounts with (`tickwire:<EMQX_API_SECRET>`, read by
# api_key.bootstrap_file in emqx.conf), all owned by the image's `emqx` user (uid 1000) and
# readable by it alone. Every start rewrites them, so a renewed certificate is served after
# a restart of EMQX.
set -eu
: "${EMQX_API_SECRET:?set EMQX_API_SECRET in .env}"
# EMQX reads each line as `key:secret` or `key:secret:role` (emqx_mgmt_auth.erl, 5.8.9): a
# colon in the secret would be read as a role and the file refused; a line break splits it.
case "$EMQX_API_SECRET" in
*:* | *[[:space:]]*)
    echo "EMQX_API_SECRET must not contain ':' or whitespace" >&2
    exit 1
    ;;
esac
owner=1000:1000
out=/emqx
mkdir -p "$out"
chown "$owner" "$out"
chmod 700 "$out"
umask 077
for file in server.crt server.key; do
    cp /tls/$file "$out/$file.new"
    chown "$owner" "$out/$file.new"
    mv "$out/$file.new" "$out/$file"
done
printf 'tickwire:%s\n' "$EMQX_API_SECRET" > "$out/api-keys.new"
chown "$owner" "$out/api-keys.new"
mv "$out/api-keys.new" "$out/api-keys"
echo "EMQX's certificate and API key are in place"
