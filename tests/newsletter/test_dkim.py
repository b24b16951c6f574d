"""DKIM: the [dkim] section, signatures that dkimpy verifies against the record `feeder
newsletter dns` prints, and one clear line for every unusable key."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dkim
import portpicker
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dkim.util import parse_tag_value

from feeder.app import open_feeder
from feeder.cli import main
from feeder.config import Config, DkimSection, parse_config
from feeder.errors import ConfigError
from feeder.newsletter.dkim import SIGNED_HEADERS, Signer, dns_records, load_signer, zone_line
from feeder.newsletter.message import Recipient
from feeder.newsletter.message import message_bytes as build
from tests.conftest import ROOT, NewsState
from tests.newsletter.test_mailer import AFTER_W05, UNSUBSCRIBE, W05, rendered, write_config
from tests.test_cli_errors import one_line

DOMAIN = "example.org"  # the From address's domain in the news fixture's config
SELECTOR = "mail2026"
KEY_NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """A throwaway 2048-bit key, made once for the module (generating one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(folder: Path, key: Any, name: str = "dkim.pem", pkcs1: bool = False) -> Path:
    """`key` as an unencrypted PEM file: PKCS#8 (what `openssl genrsa` writes) or PKCS#1."""
    path = folder / name
    private = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else None
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            private or serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def public_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def with_dkim(config: Config, key: Path) -> Config:
    return replace(config, dkim=DkimSection(DOMAIN, SELECTOR, key))


def signer_for(tmp_path: Path, key: rsa.RSAPrivateKey) -> Signer:
    signer = load_signer(DkimSection(DOMAIN, SELECTOR, write_key(tmp_path, key)))
    assert signer is not None
    return signer


def message_bytes(news: NewsState, unsubscribe: str = UNSUBSCRIBE) -> bytes:
    """One reader's copy of the W05 issue as feeder builds it, as the send loop has it."""
    return build(
        rendered(news),
        W05,
        Recipient("ann@example.org", "安妮 Smith"),
        news.config,
        now=AFTER_W05,
        unsubscribe=unsubscribe,
    )


def verifies(data: bytes, records: list[tuple[str, str]]) -> bool:
    """dkimpy's verdict, with DNS answered from `records` (and nothing else)."""
    zone = {f"{name}.": value.encode("ascii") for name, value in records}
    asked: list[str] = []

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        key = name.decode("ascii") if isinstance(name, bytes) else name
        asked.append(key)
        return zone.get(key)

    valid = bool(dkim.verify(data, dnsfunc=dnsfunc))
    assert set(asked) <= {f"{KEY_NAME}."}  # the name the record is published under
    return valid


def signature_tags(data: bytes) -> dict[bytes, bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"DKIM-Signature: ")  # prepended: the first header
    first = re.match(rb"DKIM-Signature: (.*?)\r\n(?![ \t])", head, re.DOTALL)
    assert first is not None
    return parse_tag_value(re.sub(rb"\r\n[ \t]", b" ", first[1]))


# -- The config ------------------------------------------------------------------------------


def test_dkim_is_off_by_default_and_with_three_empty_keys(tmp_path: Path) -> None:
    assert parse_config("", tmp_path).dkim == DkimSection()
    off = parse_config('[dkim]\ndomain = ""\nselector = ""\nprivate_key = ""\n', tmp_path)
    assert off.dkim.private_key is None and not off.dkim.enabled


def test_the_key_path_resolves_against_the_config_folder(tmp_path: Path) -> None:
    text = f'[dkim]\ndomain = "{DOMAIN}"\nselector = "{SELECTOR}"\nprivate_key = "keys/k.pem"\n'
    config = parse_config(text, tmp_path)
    assert config.dkim == DkimSection(DOMAIN, SELECTOR, tmp_path / "keys" / "k.pem")
    assert config.dkim.enabled


@pytest.mark.parametrize(
    ("keys", "missing"),
    [
        ({"domain": DOMAIN}, "missing: dkim.selector, dkim.private_key"),
        ({"domain": DOMAIN, "selector": SELECTOR}, "missing: dkim.private_key"),
        ({"private_key": "k.pem"}, "missing: dkim.domain, dkim.selector"),
        ({"selector": SELECTOR, "private_key": "k.pem", "domain": ""}, "missing: dkim.domain"),
    ],
)
def test_all_three_keys_or_none(tmp_path: Path, keys: dict[str, str], missing: str) -> None:
    text = "[dkim]\n" + "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    with pytest.raises(ConfigError, match=missing):
        parse_config(text, tmp_path)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("domain", "localhost"),
        ("domain", "例子.中国"),
        ("domain", "example.org."),
        ("domain", "-bad.example.org"),
        ("selector", "mail 2026"),
        ("selector", "sel_1"),
    ],
)
def test_domain_and_selector_must_be_dns_names(tmp_path: Path, key: str, value: str) -> None:
    keys = {"domain": DOMAIN, "selector": SELECTOR, "private_key": "k.pem", key: value}
    text = "[dkim]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    with pytest.raises(ConfigError, match=f"dkim.{key} must be an ASCII DNS name"):
        parse_config(text, tmp_path)


def test_unknown_dkim_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key dkim.algorithm"):
        parse_config('[dkim]\nalgorithm = "ed25519"\n', tmp_path)


# -- Signing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pkcs1", [False, True], ids=["pkcs8", "pkcs1"])
def test_a_signed_issue_verifies_against_the_printed_record(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, pkcs1: bool
) -> None:
    signer = load_signer(DkimSection(DOMAIN, SELECTOR, write_key(tmp_path, rsa_key, pkcs1=pkcs1)))
    assert signer is not None
    data = message_bytes(news)
    signed = signer.sign(data)
    assert signed.endswith(data)  # prepended, nothing else touched
    assert verifies(signed, dns_records(with_dkim(news.config, tmp_path / "dkim.pem"), signer))


def test_an_altered_body_fails(news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    signer = signer_for(tmp_path, rsa_key)
    signed = signer.sign(message_bytes(news))
    records = dns_records(news.config, signer)
    assert verifies(signed, records)
    # One line of the text part's base64 changed: what a reader would see differs.
    line = next(x for x in signed.split(b"\r\n\r\n", 1)[1].split(b"\r\n") if len(x) == 76)
    assert not verifies(signed.replace(line, line.swapcase(), 1), records)
    # And a changed signed header fails too.
    assert not verifies(signed.replace(b"Subject: ", b"Subject: Re: ", 1), records)


def test_relaxed_canonicalisation_survives_a_relay_rewrapping_headers(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = signer_for(tmp_path, rsa_key)
    signed = signer.sign(message_bytes(news))
    head, body = signed.split(b"\r\n\r\n", 1)
    # Unfold every folded header and pad the body's lines: what relaxed/relaxed forgives.
    rewrapped = re.sub(rb"\r\n[ \t]+", b" ", head) + b"\r\n\r\n" + body.replace(b"\r\n", b" \r\n")
    assert verifies(rewrapped, dns_records(news.config, signer))


@pytest.mark.parametrize(
    "unsubscribe", [UNSUBSCRIBE, "http://feeds.example.org/u"], ids=["https", "http"]
)
def test_the_signature_covers_exactly_the_listed_headers_present(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, unsubscribe: str
) -> None:
    data = message_bytes(news, unsubscribe)
    tags = signature_tags(signer_for(tmp_path, rsa_key).sign(data))
    present = {
        line.split(b":", 1)[0].decode().lower()
        for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if line and line[:1] not in b" \t"
    }
    signed = [h.strip().decode() for h in tags[b"h"].split(b":")]
    expected = [h.lower() for h in SIGNED_HEADERS if h.lower() in present]
    assert signed == expected
    # Without an https page there is no one-click header to sign; with one, all ten.
    assert len(signed) == (10 if unsubscribe.startswith("https://") else 9)
    assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed"
    assert (tags[b"d"], tags[b"s"]) == (DOMAIN.encode(), SELECTOR.encode())


def test_the_signed_message_stays_ascii_with_crlf_lines(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    signed = signer_for(tmp_path, rsa_key).sign(message_bytes(news))
    assert signed.isascii()
    assert b"\n" not in signed.replace(b"\r\n", b"") and b"\r" not in signed.replace(b"\r\n", b"")
    head = signed.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in head) <= 998  # SMTP's line limit (RFC 5322)


# -- DNS records -----------------------------------------------------------------------------


def test_records_with_and_without_dkim(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = signer_for(tmp_path, rsa_key)
    assert dns_records(news.config, signer) == [
        (KEY_NAME, f"v=DKIM1; k=rsa; p={public_b64(rsa_key)}"),
        (DOMAIN, "v=spf1 mx ~all"),
        (f"_dmarc.{DOMAIN}", "v=DMARC1; p=none; rua=mailto:newsletter@example.org"),
    ]
    assert dns_records(news.config, None) == dns_records(news.config, signer)[1:]


def test_a_long_value_is_split_into_strings_of_at_most_255_bytes() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 600
    line = zone_line(KEY_NAME, value)
    assert line.startswith(f"{KEY_NAME}. IN TXT ")
    strings = re.findall(r'"([^"]*)"', line)
    assert [len(s) for s in strings] == [255, 255, 108]
    assert "".join(strings) == value
    assert zone_line(DOMAIN, 'say "hi"') == f'{DOMAIN}. IN TXT "say \\"hi\\""'


def zone_values(output: str) -> dict[str, str]:
    """Each zone line's name and its strings joined back, as a resolver hands them over."""
    records = {}
    for line in output.splitlines():
        if line.startswith(";"):
            continue
        name, rest = line.split(" IN TXT ", 1)
        records[name] = "".join(re.findall(r'"([^"]*)"', rest))
    return records


def dkim_toml(key: Path) -> str:
    return f'[dkim]\ndomain = "{DOMAIN}"\nselector = "{SELECTOR}"\nprivate_key = "{key}"\n'


def test_cli_dns_prints_the_key_record_matching_the_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text(dkim_toml(Path("dkim.pem")), encoding="utf-8")  # relative to the file
    write_key(tmp_path, rsa_key)
    result = CliRunner().invoke(main, ["--config", str(config), "newsletter", "dns"])
    assert result.exit_code == 0, result.output
    records = zone_values(result.stdout)
    assert list(records) == [f"{KEY_NAME}.", f"{DOMAIN}.", f"_dmarc.{DOMAIN}."]
    assert records[f"{KEY_NAME}."] == f"v=DKIM1; k=rsa; p={public_b64(rsa_key)}"
    key_line = result.stdout.splitlines()[0]
    assert key_line.count('"') == 4  # 392 characters of key: two strings


def test_cli_dns_without_dkim_says_so_and_suggests_spf_and_dmarc(tmp_path: Path) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "newsletter", "dns"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("; DKIM is not configured")
    assert list(zone_values(result.stdout)) == [f"{DOMAIN}.", f"_dmarc.{DOMAIN}."]


# -- Keys that cannot sign: one line when a command or the daemon starts ---------------------


def bad_keys(folder: Path, key: rsa.RSAPrivateKey) -> dict[str, tuple[Path, str]]:
    """Each kind of unusable key file, and what its error line must say."""
    folder.mkdir(exist_ok=True)
    not_pem = folder / "notes.txt"
    not_pem.write_text("my dkim key is in the password manager\n", encoding="utf-8")
    public = folder / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    encrypted = folder / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    elliptic = write_key(folder, ec.generate_private_key(ec.SECP256R1()), "ec.pem")
    damaged = folder / "damaged.pem"
    lines = write_key(folder, key, "whole.pem").read_text().splitlines()
    damaged.write_text("\n".join(lines[:5] + lines[-1:]) + "\n")  # the middle lost
    unreadable = folder / "folder.pem"
    unreadable.mkdir()
    return {
        "missing": (folder / "nowhere.pem", "no such file (make a key with: openssl genrsa"),
        "not PEM": (not_pem, "not a PEM file"),
        "public key": (public, "holds a public key; give the private key"),
        "encrypted": (encrypted, "the key is encrypted; feeder needs it without a passphrase"),
        "EC key": (elliptic, "not an RSA private key in PEM"),
        "damaged": (damaged, "not an RSA private key in PEM"),
        "unreadable": (unreadable, "cannot read: Is a directory"),
    }


BAD_KEYS = ["missing", "not PEM", "public key", "encrypted", "EC key", "damaged", "unreadable"]


@pytest.mark.parametrize("kind", BAD_KEYS)
@pytest.mark.parametrize(
    "command",
    [["newsletter", "dns"], ["newsletter", "send", "--dry-run", "--week", W05]],
    ids=["dns", "send"],
)
def test_an_unusable_key_is_one_line_through_the_cli(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, kind: str, command: list[str]
) -> None:
    path, says = bad_keys(tmp_path / "keys", rsa_key)[kind]
    config = tmp_path / "feeder.toml"
    config.write_text(dkim_toml(path), encoding="utf-8")
    line = one_line(CliRunner().invoke(main, ["--config", str(config), *command]))
    assert line.startswith(f"Error: dkim.private_key {path}: "), line
    assert says in line, line
    assert not (tmp_path / "data").exists()  # failed before the state was made


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_key_under_1024_bits_is_refused(tmp_path: Path) -> None:
    # cryptography no longer makes keys this small; openssl still does.
    small = tmp_path / "small.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(small), "512"], check=True, capture_output=True
    )
    with pytest.raises(ConfigError, match="an RSA key of 512 bits; receivers ignore keys under"):
        load_signer(DkimSection(DOMAIN, SELECTOR, small))


def test_the_daemon_refuses_to_start_with_an_unusable_key(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    path, says = bad_keys(tmp_path / "keys", rsa_key)["public key"]
    with pytest.raises(ConfigError, match=says):
        open_feeder(with_dkim(news.config, path)).check_mail_settings()
    config = write_config(news, tmp_path, portpicker.pick_unused_port())
    config.write_text(config.read_text(encoding="utf-8") + dkim_toml(path), encoding="utf-8")
    news.store.close()
    # In a child: were the key accepted, the daemon would run until stopped.
    daemon = subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(config), "daemon"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert daemon.returncode == 1 and daemon.stderr.count("\n") == 1, daemon.stderr
    assert daemon.stderr.startswith(f"Error: dkim.private_key {path}: {says}"), daemon.stderr


def test_the_facade_loads_the_key_once(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    key = write_key(tmp_path, rsa_key)
    with open_feeder(with_dkim(news.config, key)) as app:
        signer = app.dkim_signer()
        key.unlink()  # read at first use, and not again
        assert app.dkim_signer() is signer
        assert app.dns_records()[0] == (KEY_NAME, signer.record_value)
    with open_feeder(news.config) as app:
        assert app.dkim_signer() is None


# -- End to end over SMTP ---------------------------------------------------------------------


class RawSink:
    """An aiosmtpd handler keeping each message's bytes exactly as they arrived."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content)
        return "250 2.0.0 queued"


@pytest.fixture
def sink() -> Iterator[tuple[RawSink, int]]:
    handler = RawSink()
    port = portpicker.pick_unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_every_message_sent_verifies(
    news: NewsState, tmp_path: Path, rsa_key: rsa.RSAPrivateKey, sink: tuple[RawSink, int]
) -> None:
    handler, port = sink
    readers = ("ann@example.org", "bo@example.org", "cy@example.org")
    news.subscribe(*readers)
    config = with_dkim(news.with_smtp(port=port), write_key(tmp_path, rsa_key))
    with open_feeder(config, clock=lambda: AFTER_W05, lock_wait=0) as app:
        report = app.send(W05)
        records = app.dns_records()
    assert (report.sent, report.complete) == (3, True)
    assert len(handler.received) == 3
    for data in handler.received:
        assert verifies(data, records), data[:400]
        head, body = data.split(b"\r\n\r\n", 1)
        tampered = head + b"\r\n\r\n" + body.replace(b"\r\n", b"\r\nX", 1)
        assert not verifies(tampered, records)
