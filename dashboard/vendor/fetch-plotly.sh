#!/usr/bin/env sh
# plotly.js' finance bundle (scatter, bar, pie, candlestick, indicator and a few more: every
# trace tickwire draws), the version the `plotly` Python package serves Dash, from the npm
# registry's `plotly.js` package (MIT licence, kept beside it). 1.3 MB instead of Dash's 4.8 MB
# full bundle, whose start-up (a country-name table for maps) costs ~50 ms of every page load.
# Without it (no npm), pages use Dash's full bundle. `make up` and `make test` run this.
set -eu
VERSION=4.1.1
SHA256=096c11cab5e43022f15a05a3e3d6d60d3e8bb5b73bdc82c506fa81b3fb59a86b
here=$(cd "$(dirname "$0")" && pwd)
target="$here/plotly-finance-$VERSION.min.js"
if [ -f "$target" ] && echo "$SHA256  $target" | sha256sum -c - >/dev/null 2>&1; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "note: npm not found; the dashboard serves Dash's full plotly.js" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "plotly.js@$VERSION" >/dev/null \
  && tar -xzf "plotly.js-$VERSION.tgz" package/dist/plotly-finance.min.js package/LICENSE)
echo "$SHA256  $work/package/dist/plotly-finance.min.js" | sha256sum -c - >/dev/null
cp "$work/package/LICENSE" "$here/plotly.js-LICENSE"
mv "$work/package/dist/plotly-finance.min.js" "$target"
