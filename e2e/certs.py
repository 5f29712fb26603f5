"""X.509 helpers for the cert-manager end-to-end tests: make a CA Secret, read what cert-manager issued, verify it.

Pure functions over Secret dicts; a malformed issuance fails the calling test with what is wrong.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from devkit.devplane.pki import make_ca


def public_bytes(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def ca_secret(name: str, namespace: str, common_name: str) -> tuple[dict[str, Any], x509.Certificate]:
    """A kubernetes.io/tls Secret holding a fresh self-signed CA (the dev planes' CA maker), and the CA certificate."""
    pair, _ = make_ca(common_name)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "tls.crt": base64.b64encode(pair.cert_pem).decode(),
            "tls.key": base64.b64encode(pair.key_pem).decode(),
        },
    }
    return secret, x509.load_pem_x509_certificate(pair.cert_pem)


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
