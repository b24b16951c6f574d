"""DKIM: the operator's signing key, read and checked once; the signature each message
carries (dkimpy); and the DNS records that let receivers check it (DKIM, SPF, DMARC)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

from ..config import Config, DkimSection
from ..errors import ConfigError
from .message import sender

# What the signature covers, each when the message has it: who it is from and to, what it
# is, and the list headers, so that nobody on the way can swap the unsubscribe links. RFC
# 8058 honours one-click unsubscribe only when a valid DKIM signature covers both
# List-Unsubscribe headers, and Gmail and Yahoo require one-click from bulk senders.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
# relaxed/relaxed: a relay that re-folds a header or trims trailing spaces keeps the
# signature valid; dkimpy's default body canonicalisation (simple) would not.
CANONICALIZE = (b"relaxed", b"relaxed")
MIN_BITS = 1024  # receivers ignore shorter RSA keys (RFC 8301); generate 2048
MAX_KEY_BYTES = 64 * 1024  # a PEM RSA key is a few KB: a bigger file is the wrong one
TXT_STRING = 255  # bytes in one string of a TXT record (RFC 1035); longer values are split
RSA_OID = bytes.fromhex("2a864886f70d010101")  # rsaEncryption, 1.2.840.113549.1.1.1
PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
# The trial message load_signer signs and verifies: proof, at start-up, that the key signs
# and that the record `feeder newsletter dns` prints verifies what it signs.
TRIAL = b"From: dkim-check@invalid\r\nSubject: key check\r\n\r\nfeeder\r\n"


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs messages with one checked key; made by load_signer."""

    domain: str  # d=
    selector: str  # s=
    key: bytes  # the private key as PEM, as dkimpy takes it
    public_key: bytes  # its public half, DER SubjectPublicKeyInfo: the DNS record's p=

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def record_value(self) -> str:
        return f"v=DKIM1; k=rsa; p={base64.b64encode(self.public_key).decode('ascii')}"

    def sign(self, data: bytes) -> bytes:
        """`data` (a whole message, CRLF line ends, ASCII) with a DKIM-Signature prepended.

        The signature is ASCII with CRLF line ends too, so the result goes to SMTP as it is.
        h= names each of SIGNED_HEADERS the message has, once. (Naming an absent one too
        would forbid adding it on the way; of these, feeder's messages lack at most
        List-Unsubscribe-Post, when the unsubscribe page is not https.)
        """
        message = dkim.DKIM(data, signature_algorithm=b"rsa-sha256", linesep=b"\r\n")
        present = {name.lower() for name, _ in message.headers}
        headers = [h.encode("ascii") for h in SIGNED_HEADERS if h.lower().encode() in present]
        signature = message.sign(
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.key,
            canonicalize=CANONICALIZE,
            include_headers=headers,
        )
        return bytes(signature) + data


def load_signer(section: DkimSection) -> Signer | None:
    """The signer [dkim] configures, its key checked now; None when DKIM is off.

    ConfigError, one line naming the file, if the key is missing, unreadable, not an
    unencrypted RSA private key in PEM, or too short: found when a command or the daemon
    starts, not at the first message of a send.
    """
    path = section.private_key
    if path is None:
        return None
    where = f"dkim.private_key {path}"
    try:
        with path.open("rb") as f:
            pem = f.read(MAX_KEY_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: no such file (make a key with: openssl genrsa -out {path} 2048)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    pem = pem.replace(b"\r\n", b"\n")  # dkimpy finds the key between "--\n" and "\n--"
    problem = _pem_problem(pem, path)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    try:
        numbers = parse_pem_private_key(pem)
    except (UnparsableKeyError, ValueError):  # ValueError: the base64 itself is bad
        raise ConfigError(f"{where}: not an RSA private key in PEM") from None
    bits = numbers["modulus"].bit_length()
    if bits < MIN_BITS:
        raise ConfigError(
            f"{where}: an RSA key of {bits} bits; receivers ignore keys under {MIN_BITS} "
            f"bits (make one of 2048: openssl genrsa -out {path} 2048)"
        )
    signer = Signer(
        section.domain,
        section.selector,
        pem,
        _public_key_info(numbers["modulus"], numbers["publicExponent"]),
    )
    _trial(signer, where)
    return signer


def _pem_problem(pem: bytes, path: Path) -> str | None:
    """What is wrong with the common wrong files, and what to do, rather than dkimpy's
    complaint about ASN.1; None when the file looks like a private key."""
    if len(pem) > MAX_KEY_BYTES:
        return "too big for a key; is it the right file?"
    labels = PEM_LABEL.findall(pem)
    if not labels:
        return "not a PEM file (a key starts with -----BEGIN PRIVATE KEY-----)"
    label = labels[0].decode("ascii")
    if "PUBLIC" in label or label == "CERTIFICATE":
        return (
            "holds a public key; give the private key (its public half goes into DNS: "
            "see `feeder newsletter dns`)"
        )
    if "ENCRYPTED" in label or b"Proc-Type: 4,ENCRYPTED" in pem:
        return (
            "the key is encrypted; feeder needs it without a passphrase "
            f"(openssl pkey -in {path} -out plain.pem, then chmod 600 plain.pem)"
        )
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        return f"holds a {label}, not an RSA private key"
    return None


def _trial(signer: Signer, where: str) -> None:
    record = signer.record_value.encode("ascii")
    try:
        signed = signer.sign(TRIAL)
        valid = dkim.verify(signed, dnsfunc=lambda _name, timeout=5: record)
    except dkim.DKIMException as exc:
        raise ConfigError(f"{where}: cannot sign with this key: {exc}") from None
    if not valid:  # the key's numbers do not belong together: a damaged file
        raise ConfigError(f"{where}: this key's signatures do not verify; is the file damaged?")


def _public_key_info(modulus: int, exponent: int) -> bytes:
    """The public key as DER SubjectPublicKeyInfo, what `openssl pkey -pubout` writes.

    Built here from the two numbers dkimpy reads: a few lines, rather than a second crypto
    library for this alone.
    """
    rsa_public_key = _der(0x30, _der_integer(modulus) + _der_integer(exponent))
    algorithm = _der(0x30, _der(0x06, RSA_OID) + _der(0x05, b""))
    return _der(0x30, algorithm + _der(0x03, b"\0" + rsa_public_key))  # \0: no unused bits


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _der_integer(value: int) -> bytes:
    # One byte more than the bits need whenever they fill whole bytes: the leading zero
    # keeps a positive number from reading as negative.
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def dns_records(config: Config, signer: Signer | None) -> list[tuple[str, str]]:
    """The TXT records to publish, as (name, value): the DKIM key when signing, then a
    suggested SPF and DMARC record for the From address's domain.

    SPF and DMARC are starting points to adapt, not facts feeder can know:
    - SPF names the hosts allowed to send as the domain (feeder's envelope sender is the
      From address). `mx` assumes the domain's mail servers relay its mail; replace it with
      what really sends (`a:relay.example.org`, `ip4:203.0.113.7`, or the provider's
      `include:`). A domain has one SPF record: merge into an existing one. `~all` (soft
      fail) rather than `-all`: with DMARC in place a receiver decides from DMARC, and a
      hard fail would bounce mail forwarded on, before DMARC gets to see a valid signature.
    - DMARC starts at p=none: receivers only report (daily, to rua) and nothing is refused
      while SPF and DKIM are being set up. Gmail's and Yahoo's bulk-sender rules require a
      record, at least p=none; once the reports show every message passes, tighten to
      p=quarantine, then p=reject. The reports go to the From address, the one address
      feeder knows the operator controls.
    """
    source = sender(config)
    domain = _ascii_domain(source.domain)
    records = [] if signer is None else [(signer.record_name, signer.record_value)]
    records.append((domain, "v=spf1 mx ~all"))
    records.append((f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:{source.addr_spec}"))
    return records


def _ascii_domain(domain: str) -> str:
    """An international domain in its xn-- form, as DNS names it."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def zone_line(name: str, value: str) -> str:
    """One record as a zone-file line. A value over 255 bytes becomes several quoted
    strings, which receivers join back into one (RFC 6376 §3.6.2.2, RFC 7208 §3.3)."""
    data = value.encode("utf-8")
    pieces = [data[i : i + TXT_STRING] for i in range(0, len(data), TXT_STRING)] or [b""]
    strings = " ".join(_quoted(piece) for piece in pieces)
    return f"{name}. IN TXT {strings}"


def _quoted(piece: bytes) -> str:
    """A zone-file string: `"` and `\\` escaped, a byte outside printable ASCII as \\DDD."""
    text = "".join(
        f"\\{chr(b)}" if b in b'"\\' else chr(b) if 32 <= b < 127 else f"\\{b:03d}" for b in piece
    )
    return f'"{text}"'
