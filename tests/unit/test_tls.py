"""ServerTls: a certificate replaced in place, never left half replaced."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
from pathlib import Path

import pytest

from golive.tls import ServerTls, TlsError


def make(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def digest(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


async def handshake(tls: ServerTls) -> str:
    """The SHA-256 of the certificate a new connection to a server with ``tls`` gets."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=tls.context)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
    finally:
        server.close()
    return hashlib.sha256(der).hexdigest()


async def test_a_reload_takes_a_renewed_pair_and_refuses_a_broken_one(tmp_path: Path) -> None:
    first, first_key = make(tmp_path, "first")
    second, second_key = make(tmp_path, "second")
    live, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    live.write_bytes(first.read_bytes())
    live_key.write_bytes(first_key.read_bytes())
    tls = ServerTls(live, live_key)
    assert await handshake(tls) == digest(first)

    live.write_bytes(second.read_bytes())  # the renewed certificate, the old key: broken
    assert tls.reload() is False
    assert await handshake(tls) == digest(first)  # still whole, still the first

    live_key.write_bytes(second_key.read_bytes())
    assert tls.reload() is True
    assert await handshake(tls) == digest(second)


def test_files_that_cannot_be_used_are_named(tmp_path: Path) -> None:
    cert, key = make(tmp_path, "one")
    _, other_key = make(tmp_path, "two")
    with pytest.raises(TlsError, match="no such file"):
        ServerTls(tmp_path / "missing.crt", key)
    with pytest.raises(TlsError, match="KEY_VALUES_MISMATCH"):
        ServerTls(cert, other_key)
    (tmp_path / "garbage.crt").write_text("not a certificate")
    with pytest.raises(TlsError, match=r"garbage\.crt"):
        ServerTls(tmp_path / "garbage.crt", key)
