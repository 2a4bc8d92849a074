"""TLS material for the loopback servers: a trustme CA, a good server certificate and the bad ones.

``TLSMaterial(directory)`` writes the CA to ``ca_file`` (the client's ``verify=``) and makes
server contexts for each variant: "valid" (localhost and 127.0.0.1), "wrong_host", "expired",
"not_yet_valid", "self_signed" and "unknown_ca". Pass ``server_context(variant)`` as a server's
``ssl_context``; ``cert_files(variant)`` gives the PEM paths (for nginx and the bench sink).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from typing import Dict, List, Sequence, Tuple, Union


class TLSMaterial:
    """A trustme CA (written to `ca_file`, for the client's verify=) and server contexts.

    server_context(variant): "valid" (localhost and 127.0.0.1), "wrong_host" (other.example),
    "expired", "not_yet_valid", "self_signed" (not issued by the CA), "unknown_ca" (issued by
    another CA). Every variant but "valid" must fail the client's verification.
    """

    VARIANTS = ("valid", "wrong_host", "expired", "not_yet_valid", "self_signed", "unknown_ca")
    HOSTS = ("localhost", "127.0.0.1")

    def __init__(self, directory: Union[str, os.PathLike]) -> None:
        import trustme

        self.directory = os.fspath(directory)
        self.ca = trustme.CA()
        self.ca_file = os.path.join(self.directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        self._leaves = {
            "valid": self.ca.issue_cert(*self.HOSTS),
            "wrong_host": self.ca.issue_cert("other.example"),
            "expired": self.ca.issue_cert(*self.HOSTS, not_before=now - 30 * day, not_after=now - day),
            "not_yet_valid": self.ca.issue_cert(*self.HOSTS, not_before=now + day, not_after=now + 30 * day),
            "unknown_ca": trustme.CA().issue_cert(*self.HOSTS),
        }
        self._files: Dict[str, Tuple[str, str]] = {}

    def cert_files(self, variant: str = "valid") -> Tuple[str, str]:
        """(certificate chain PEM path, private key PEM path) of a variant."""
        if variant not in self.VARIANTS:
            raise ValueError("unknown variant %r" % variant)
        if variant not in self._files:
            cert_path = os.path.join(self.directory, variant + ".crt")
            key_path = os.path.join(self.directory, variant + ".key")
            if variant == "self_signed":
                cert_pem, key_pem = _self_signed(self.HOSTS)
            else:
                leaf = self._leaves[variant]
                cert_pem = b"".join(b.bytes() for b in leaf.cert_chain_pems)
                key_pem = leaf.private_key_pem.bytes()
            with open(cert_path, "wb") as f:
                f.write(cert_pem)
            with open(key_path, "wb") as f:
                f.write(key_pem)
            self._files[variant] = (cert_path, key_path)
        return self._files[variant]

    def server_context(self, variant: str = "valid") -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.cert_files(variant))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (for tests of the servers themselves)."""
        return ssl.create_default_context(cafile=self.ca_file)


def _self_signed(hosts: Sequence[str]) -> Tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    sans: List[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
