"""Throwaway PKI for the local control planes: one CA, a loopback serving certificate, an admin client certificate
and a service-account key pair per plane.

Everything is generated fresh for each start (ECDSA P-256: milliseconds to make, and accepted by kube-apiserver for
serving, client auth and service-account token signing). The CA lives only in the planes' directory and is trusted by
nothing else on the machine. Generation itself cannot fail on good input; writing raises OSError if the directory is
not writable, which the launcher reports with the path.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "crdsync-admin"
ADMIN_GROUP = "system:masters"  # bypasses RBAC: the admin of a dev plane may do anything
_VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate (or public key) and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class PkiPaths:
    """Where the planes' credentials were written."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _now() -> datetime.datetime:
    # Backdated a little so a clock that is slightly behind does not reject a certificate made a moment ago.
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)


def make_ca(common_name: str = "crdsync-dev-ca") -> tuple[KeyPair, ec.EllipticCurvePrivateKey]:
    """A self-signed CA; returns its PEMs and the private key to sign with."""
    key = _new_key()
    subject = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key


def _leaf(
    ca: KeyPair,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> KeyPair:
    key = _new_key()
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_serving_cert(ca: KeyPair, ca_key: ec.EllipticCurvePrivateKey) -> KeyPair:
    """A server certificate for the loopback addresses every plane listens on."""
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    return _leaf(ca, ca_key, _name("localhost"), ExtendedKeyUsageOID.SERVER_AUTH, sans)


def make_client_cert(
    ca: KeyPair, ca_key: ec.EllipticCurvePrivateKey, user: str = ADMIN_USER, group: str = ADMIN_GROUP
) -> KeyPair:
    """A client certificate; kube-apiserver reads the user from CN and the group from O."""
    return _leaf(ca, ca_key, _name(user, group), ExtendedKeyUsageOID.CLIENT_AUTH)


def make_service_account_keys() -> KeyPair:
    """The key pair a plane signs (private) and verifies (public) service-account tokens with."""
    key = _new_key()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(public, _key_pem(key))


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def write_pki(directory: Path) -> PkiPaths:
    """Generate a CA, a serving certificate and an admin client certificate into `directory`."""
    ca, ca_key = make_ca()
    serving = make_serving_cert(ca, ca_key)
    admin = make_client_cert(ca, ca_key)
    return PkiPaths(
        ca_cert=_write(directory / "ca.crt", ca.cert_pem),
        serving_cert=_write(directory / "serving.crt", serving.cert_pem),
        serving_key=_write(directory / "serving.key", serving.key_pem, private=True),
        admin_cert=_write(directory / "admin.crt", admin.cert_pem),
        admin_key=_write(directory / "admin.key", admin.key_pem, private=True),
    )


def write_service_account_keys(directory: Path, name: str) -> tuple[Path, Path]:
    """Write a fresh service-account key pair for plane `name`; returns (public key path, private key path)."""
    keys = make_service_account_keys()
    return (
        _write(directory / f"{name}-sa.pub", keys.cert_pem),
        _write(directory / f"{name}-sa.key", keys.key_pem, private=True),
    )
