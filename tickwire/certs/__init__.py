"""The broker's TLS material: a local CA and a server certificate it signs.

`make up` keeps them under the data dir (`broker/tls/`), compose in its `broker-tls` volume
(`python -m tickwire.certs`). Devices and services trust `ca.crt` (`TICKWIRE_MQTT_CA_FILE`,
`mosquitto_pub --cafile`); the broker serves `server.crt` with `server.key`.

The CA is made once and kept: clients that trust it keep working when the server certificate is
renewed, which happens at start when it is missing, does not name every host asked for, or
expires within `RENEW_BEFORE`. Keys are ECDSA P-256, written with mode 600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Names the embedded broker is reached by: it listens on loopback only.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_LIFETIME = datetime.timedelta(days=3650)
SERVER_LIFETIME = datetime.timedelta(days=397)
RENEW_BEFORE = datetime.timedelta(days=30)
#: Certificates start this long before they are made: a device whose clock is a little behind
#: still accepts them.
_BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class BrokerTls:
    """The four files in `directory`."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"


def ensure(directory: Path, hosts: Sequence[str] = LOOPBACK_HOSTS) -> BrokerTls:
    """The CA and a server certificate for `hosts` (DNS names or IP addresses) in `directory`,
    made or renewed as needed (see the module's docstring); returns their paths."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name")
    names = [_general_name(host) for host in hosts]
    tls = BrokerTls(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    if not (tls.ca_cert.exists() and tls.ca_key.exists()):
        _write_ca(tls, now)
        tls.server_cert.unlink(missing_ok=True)  # signed by a CA that is gone
    if _renewal_due(tls, names, now):
        _write_server(tls, names, now)
    return tls


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or any(c.isspace() or c in "/:@" for c in host):
        raise ValueError(f"not a host name or IP address: {host!r}")
    return x509.DNSName(host)


def _renewal_due(tls: BrokerTls, names: list[x509.GeneralName], now: datetime.datetime) -> bool:
    if not (tls.server_cert.exists() and tls.server_key.exists()):
        return True
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        cert.issuer != ca.subject
        or set(named) != set(names)
        or cert.not_valid_after_utc - now < RENEW_BEFORE
    )


def _write_ca(tls: BrokerTls, now: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tickwire local broker CA")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(tls.ca_key, _pem_key(key))
    _write_public(tls.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _write_server(tls: BrokerTls, names: list[x509.GeneralName], now: datetime.datetime) -> None:
    ca_key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{tls.ca_key} is not the EC key this module makes")
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    first = names[0].value
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + SERVER_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(tls.server_key, _pem_key(key))
    _write_public(tls.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write(path, data, 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Whole or not at all: written beside, then renamed over `path`."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.chmod(mode)  # whatever the umask
    partial.replace(path)
