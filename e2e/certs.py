"""X.509 helpers for the cert-manager end-to-end tests: make a CA Secret, read what cert-manager issued, verify it.

Pure functions over Secret dicts; a malformed issuance fails the calling test with what is wrong.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def public_bytes(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def ca_secret(name: str, namespace: str, common_name: str) -> tuple[dict[str, Any], x509.Certificate]:
    """A kubernetes.io/tls Secret holding a fresh self-signed CA, and the CA certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "tls.crt": base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
        },
    }
    return secret, cert


def issued(secret: dict[str, Any]) -> tuple[x509.Certificate, dict[str, bytes]]:
    """The leaf certificate in a cert-manager Secret, after checking that tls.key matches it."""
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    name = secret["metadata"]["name"]
    assert {"tls.crt", "tls.key", "ca.crt"} <= set(data), f"secret {name} has keys {sorted(data)}"
    leaf = x509.load_pem_x509_certificates(data["tls.crt"])[0]
    key = serialization.load_pem_private_key(data["tls.key"], password=None)
    assert public_bytes(leaf.public_key()) == public_bytes(key.public_key()), f"{name}: tls.key does not match tls.crt"
    return leaf, data


def dns_sans(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.DNSName))


def signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
