"""Certificates for TLS tests, made with `cryptography`: a test CA and a relay certificate it signs,
and a self-signed relay certificate. Written as PEM files; `server_context()` builds the relay's side."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Pem(cert_path, key_path)


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
    *, ca: bool, names: list[str],
) -> x509.Certificate:  # fmt: skip
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )  # fmt: skip
    if names:
        alternatives: list[x509.GeneralName] = []
        for n in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alternatives.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_test_ca(folder: Path, relay_names: list[str]) -> tuple[Path, Pem]:
    """(the CA's certificate file, the relay's certificate and key signed by it)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("peerpath test CA", ca_key, "peerpath test CA", ca_key, ca=True, names=[])
    ca_pem = _write(folder, "ca", ca, ca_key)
    relay_key = ec.generate_private_key(ec.SECP256R1())
    relay = _cert(relay_names[0], relay_key, "peerpath test CA", ca_key, ca=False, names=relay_names)
    return ca_pem.cert, _write(folder, "relay", relay, relay_key)


def self_signed(folder: Path, relay_names: list[str]) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(relay_names[0], key, relay_names[0], key, ca=True, names=relay_names)
    return _write(folder, "self-signed", cert, key)
