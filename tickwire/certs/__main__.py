"""`python -m tickwire.certs DIR HOST…`: the broker's CA and server certificate in DIR.

compose's one-shot `broker-certs` runs it on every start (a no-op while the certificate is
valid and names the same hosts); the CA is kept, so devices need `DIR/ca.crt` once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tickwire.certs import ensure


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m tickwire.certs DIR HOST [HOST…]", file=sys.stderr)
        return 2
    hosts = [host for word in argv[1:] for host in word.replace(",", " ").split()]
    try:
        tls = ensure(Path(argv[0]), hosts)
    except (ValueError, OSError) as exc:
        print(f"broker certificates: {exc}", file=sys.stderr)
        return 1
    print(f"broker CA {tls.ca_cert}; server certificate {tls.server_cert} for {', '.join(hosts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
