"""A self-signed certificate for the simulator, made once and cached in the temp directory.

The browser runs with ignore_https_errors, so the certificate only has to let the TLS
handshake happen; it names the hosts served anyway so other clients can pin it if they like.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: how long a made certificate is valid, and how close to expiry it is made again
VALIDITY = timedelta(days=30)
RENEW_BEFORE = timedelta(days=1)


def server_context(hosts: list[str]) -> ssl.SSLContext:
    """A server-side TLS context with a certificate naming `hosts` (cached between runs)."""
    pem_path = _cached_pem(sorted({"localhost", *hosts}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem_path)
    # Chromium offers h2 first; answering only http/1.1 keeps the server a plain HTTP/1.1 one.
    context.set_alpn_protocols(["http/1.1"])
    return context


def _cached_pem(hosts: list[str]) -> Path:
    """One file with key and certificate, so a concurrent start never pairs the wrong two."""
    digest = hashlib.sha256("\n".join(hosts).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"bidwatch-simulator-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    pem_path = folder / f"{digest}.pem"
    if not _still_valid(pem_path):
        _write_pem(hosts, pem_path)
    return pem_path


def _still_valid(cert_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE


def _write_pem(hosts: list[str], pem_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = _certificate(key, hosts).public_bytes(serialization.Encoding.PEM)
    _atomic_write(pem_path, key_pem + cert_pem)


def _certificate(key: ec.EllipticCurvePrivateKey, hosts: list[str]) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bidwatch simulator")])
    names: list[x509.GeneralName] = [x509.DNSName("*")]
    names += [x509.DNSName(host) for host in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name and rename, so a concurrent start never reads half a file."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
