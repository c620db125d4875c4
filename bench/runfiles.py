"""The files one benchmark run shares among its servers and its load generator.

A temporary directory, made once per run and removed at its end, holds:

* a throwaway certificate authority and a certificate it issued for 127.0.0.1,
  so that every TLS server is given the same certificate and key, the same way
  (two PEM files), and the load generator verifies every one against the same CA;
* the path of the UNIX socket the servers of the UNIX scenarios listen on (short,
  under /tmp: a socket path has at most 107 bytes).

The certificate comes from ``trustme`` when it is installed (the bench and test
extras bring it), else from the ``openssl`` command (a self-signed certificate
that is its own CA).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFiles:
    root: Path
    cert: Path  # PEM certificate chain, for the servers
    key: Path  # PEM private key, for the servers
    ca: Path  # PEM CA certificate, for the load generator
    socket: Path  # the UNIX socket path

    @classmethod
    def create(cls) -> RunFiles:
        root = Path(tempfile.mkdtemp(prefix="hubbub-bench-"))
        files = cls(root, root / "cert.pem", root / "key.pem", root / "ca.pem", root / "s")
        try:
            files.issue_certificate()
        except Exception:
            files.remove()
            raise
        return files

    def issue_certificate(self) -> None:
        try:
            import trustme
        except ImportError:
            self._self_signed()
            return
        ca = trustme.CA()
        issued = ca.issue_cert("127.0.0.1", "localhost")
        self.cert.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(self.key))
        ca.cert_pem.write_to_path(str(self.ca))

    def _self_signed(self) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("TLS scenarios need trustme (pip install trustme) or openssl")
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-nodes", "-days", "2", "-newkey", "ec"),
                *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                *("-keyout", str(self.key), "-out", str(self.cert)),
            ],
            check=True,
            capture_output=True,
        )
        shutil.copyfile(self.cert, self.ca)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
