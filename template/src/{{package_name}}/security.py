"""Tokens, password hashing, keyed digests and the input checks the package relies on.

Everything here uses the standard library only: ``secrets`` for randomness, ``hashlib.scrypt``
(a memory-hard key-derivation function) for passwords, ``hmac`` for keyed digests and
constant-time comparison.
"""

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass

# --- Input checks -------------------------------------------------------------------------


def check_length(name: str, value: str | bytes, *, minimum: int = 0, maximum: int) -> None:
    """Raise ``ValueError`` unless ``minimum <= len(value) <= maximum``.

    Bounding every input keeps a hostile request from costing unbounded memory or time.
    """
    if not minimum <= len(value) <= maximum:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        raise ValueError(
            f"{name} must be {minimum} to {maximum} {unit} long, got {len(value)} {unit}"
        )


def check_range(name: str, value: int, *, minimum: int, maximum: int) -> None:
    """Raise ``ValueError`` unless ``minimum <= value <= maximum``."""
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")


def check_pattern(name: str, value: str, pattern: str, allowed: str) -> None:
    """Raise ``ValueError`` unless ``value`` matches ``pattern`` in full.

    ``allowed`` describes the pattern for people, e.g. "letters, digits and hyphens".
    """
    if re.fullmatch(pattern, value) is None:
        raise ValueError(f"{name} may contain only {allowed}, got {value!r}")


# Unicode categories refused in text fields, with what to call them in an error message.
UNPRINTABLE_CATEGORIES = {"Cc": "a control character", "Cs": "an unpaired surrogate"}


def check_printable(name: str, value: str) -> None:
    """Raise ``ValueError`` if ``value`` holds control characters or unpaired surrogates."""
    for position, character in enumerate(value):
        kind = UNPRINTABLE_CATEGORIES.get(unicodedata.category(character))
        if kind is not None:
            raise ValueError(
                f"{name} must be printable text: character {position} is "
                f"U+{ord(character):04X}, {kind}"
            )


# --- Tokens and comparison ----------------------------------------------------------------

MIN_TOKEN_BYTES = 16
MAX_TOKEN_BYTES = 1024


def generate_token(nbytes: int = 32) -> str:
    """Return a URL-safe random token carrying ``nbytes`` bytes of entropy (from ``secrets``).

    At least 16 bytes (128 bits) are required: fewer can be guessed by brute force.
    """
    check_range("nbytes", nbytes, minimum=MIN_TOKEN_BYTES, maximum=MAX_TOKEN_BYTES)
    return secrets.token_urlsafe(nbytes)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets in time independent of where they differ.

    A plain ``==`` returns at the first differing character, which lets an attacker recover
    a token one character at a time from response times. Text is compared as UTF-8 bytes,
    so any string works (``hmac.compare_digest`` alone rejects non-ASCII text).
    """
    return hmac.compare_digest(_as_bytes(a), _as_bytes(b))


# --- Password hashing ---------------------------------------------------------------------

MAX_PASSWORD_CHARACTERS = 1024
# A stored hash is parsed before it is trusted: these bounds keep a forged one from asking
# for more than 1 GiB of memory or an absurd running time.
MAX_LOG2_N = 20
MAX_R = 32
MAX_P = 16
MAX_SCRYPT_MEMORY = 2**30
_ENCODING = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,3}),p=(?P<p>\d{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/]{16,128})\$(?P<hash>[A-Za-z0-9+/]{16,128})"
)


@dataclass(frozen=True)
class ScryptParameters:
    """Cost parameters of scrypt: ``n = 2**log2_n`` iterations, block size ``r``, lanes ``p``.

    Memory per hash is ``128 * r * n`` bytes. The defaults follow OWASP's recommendation
    (n=2**17, r=8, p=1: 128 MiB). They are stored inside every hash, so raising them later
    only affects new hashes; ``needs_rehash`` finds the old ones.
    """

    log2_n: int = 17
    r: int = 8
    p: int = 1
    salt_bytes: int = 16
    hash_bytes: int = 32

    def __post_init__(self) -> None:
        """Refuse parameters that are meaningless, or so large that one hash exhausts memory."""
        check_range("log2_n", self.log2_n, minimum=1, maximum=MAX_LOG2_N)
        check_range("r", self.r, minimum=1, maximum=MAX_R)
        check_range("p", self.p, minimum=1, maximum=MAX_P)
        check_range("salt_bytes", self.salt_bytes, minimum=16, maximum=64)
        check_range("hash_bytes", self.hash_bytes, minimum=16, maximum=64)
        check_range("memory", self.memory_bytes, minimum=0, maximum=MAX_SCRYPT_MEMORY)

    @property
    def memory_bytes(self) -> int:
        """Memory one hash needs, in bytes."""
        return 128 * self.r * (1 << self.log2_n)


DEFAULT_SCRYPT = ScryptParameters()


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _password_bytes(password: str) -> bytes:
    """Validate a password and return it NFC-normalised and UTF-8 encoded."""
    check_length("password", password, minimum=1, maximum=MAX_PASSWORD_CHARACTERS)
    try:
        return unicodedata.normalize("NFC", password).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "password must be valid Unicode text (it holds a lone surrogate)"
        ) from None


def _scrypt(secret: bytes, salt: bytes, parameters: ScryptParameters, length: int) -> bytes:
    return hashlib.scrypt(
        secret,
        salt=salt,
        n=1 << parameters.log2_n,
        r=parameters.r,
        p=parameters.p,
        maxmem=2 * parameters.memory_bytes + 2**20,
        dklen=length,
    )


def hash_password(password: str, parameters: ScryptParameters = DEFAULT_SCRYPT) -> str:
    """Hash a password with scrypt and a fresh random salt; return the encoded hash.

    The result looks like ``$scrypt$ln=17,r=8,p=1$<salt>$<hash>`` (PHC string format, base64
    without padding), so it carries everything ``verify_password`` needs. Passwords are
    NFC-normalised first, so the same password typed on different systems matches.

    Raises:
        ValueError: the password is empty, longer than 1024 characters, or not valid Unicode.
    """
    secret = _password_bytes(password)
    salt = secrets.token_bytes(parameters.salt_bytes)
    digest = _scrypt(secret, salt, parameters, parameters.hash_bytes)
    return (
        f"$scrypt$ln={parameters.log2_n},r={parameters.r},p={parameters.p}"
        f"${_b64encode(salt)}${_b64encode(digest)}"
    )


def _parse(encoded: str) -> tuple[ScryptParameters, bytes, bytes] | None:
    """Return the parameters, salt and hash of an encoded hash, or ``None`` if it is not one."""
    match = _ENCODING.fullmatch(encoded)
    if match is None:
        return None
    try:
        salt, digest = _b64decode(match["salt"]), _b64decode(match["hash"])
        parameters = ScryptParameters(
            log2_n=int(match["ln"]),
            r=int(match["r"]),
            p=int(match["p"]),
            salt_bytes=len(salt),
            hash_bytes=len(digest),
        )
    except ValueError:  # also binascii.Error, its subclass: bad base64
        return None
    return parameters, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """Tell whether ``password`` matches a hash made by ``hash_password``.

    Returns False, never raises, for a wrong password, an invalid password, or an encoded
    string that is malformed, from another algorithm, or asks for out-of-bounds parameters.
    """
    parsed = _parse(encoded)
    if parsed is None:
        return False
    try:
        secret = _password_bytes(password)
    except ValueError:
        return False
    parameters, salt, expected = parsed
    return hmac.compare_digest(_scrypt(secret, salt, parameters, len(expected)), expected)


def needs_rehash(encoded: str, parameters: ScryptParameters = DEFAULT_SCRYPT) -> bool:
    """Tell whether a stored hash was made with other (or unreadable) parameters.

    Call it after a successful ``verify_password`` and store a fresh ``hash_password`` when
    it returns True: that is how raised costs reach existing users.
    """
    parsed = _parse(encoded)
    return parsed is None or parsed[0] != parameters


# --- Keyed digests ------------------------------------------------------------------------

MIN_KEY_BYTES = 32


def keyed_digest(data: str | bytes, key: bytes) -> str:
    """Return the HMAC-SHA256 of ``data`` under ``key``, as 64 hexadecimal characters.

    Use it to pseudonymise identifiers (user ids, e-mail addresses) in datasets and logs. A
    plain SHA-256 of such low-entropy data protects nothing: anyone can hash every known
    e-mail address, or every phone number, and look the digests up. With a secret key of 32
    random bytes (``secrets.token_bytes(32)``), kept out of the data, the digests cannot be
    reversed or linked to other datasets, while equal inputs still map to equal digests.

    Raises:
        ValueError: the key is shorter than 32 bytes.
    """
    check_length("key", key, minimum=MIN_KEY_BYTES, maximum=1024)
    return hmac.new(key, _as_bytes(data), hashlib.sha256).hexdigest()
