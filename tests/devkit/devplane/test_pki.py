"""The throwaway PKI: what each certificate is for, and that it chains to the CA."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devkit.devplane import pki


def _verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == ca.subject


def test_serving_cert_covers_loopback_and_chains_to_the_ca() -> None:
    ca_pair, ca_key = pki.make_ca()
    ca = x509.load_pem_x509_certificate(ca_pair.cert_pem)
    serving = x509.load_pem_x509_certificate(pki.make_serving_cert(ca_pair, ca_key).cert_pem)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    _verify_signed_by(serving, ca)


def test_admin_client_cert_carries_user_and_masters_group() -> None:
    ca_pair, ca_key = pki.make_ca()
    client = x509.load_pem_x509_certificate(pki.make_client_cert(ca_pair, ca_key).cert_pem)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.ADMIN_USER
    assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    _verify_signed_by(client, x509.load_pem_x509_certificate(ca_pair.cert_pem))


def test_written_private_keys_are_owner_only(tmp_path: Path) -> None:
    paths = pki.write_pki(tmp_path)
    public, private = pki.write_service_account_keys(tmp_path, "host")
    for key in (paths.serving_key, paths.admin_key, private):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in public.read_bytes()
    assert b"PRIVATE KEY" in private.read_bytes()
