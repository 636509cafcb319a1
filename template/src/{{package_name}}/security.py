"""Tokens, constant-time comparison and keyed digests: the secrets the package handles.

The API's bearer tokens are made by ``generate_token`` (``token``) and compared by
``constant_time_equals``; columns named in ``data.pseudonymize`` become ``keyed_digest``s
(``privacy.py``), as do the tokens the API keeps in memory. Everything uses the standard
library: ``secrets`` for randomness and ``hmac`` for digests and comparison.
"""

import hashlib
import hmac
import secrets

# A token carries at least 128 bits: fewer can be guessed by brute force.
MIN_TOKEN_BYTES = 16
MAX_TOKEN_BYTES = 1024
# A pseudonymisation key: 32 random bytes, as many as the digest has.
MIN_KEY_BYTES = 32
MAX_KEY_BYTES = 1024


def generate_token(nbytes: int = 32) -> str:
    """Return a URL-safe random token carrying ``nbytes`` bytes of entropy (from ``secrets``).

    Raises:
        ValueError: ``nbytes`` is outside 16 to 1024.
    """
    if not MIN_TOKEN_BYTES <= nbytes <= MAX_TOKEN_BYTES:
        message = f"nbytes must be between {MIN_TOKEN_BYTES} and {MAX_TOKEN_BYTES}, got {nbytes}"
        raise ValueError(message)
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


def keyed_digest(data: str | bytes, key: bytes) -> str:
    """Return the HMAC-SHA256 of ``data`` under ``key``, as 64 hexadecimal characters.

    Use it to pseudonymise identifiers (user ids, e-mail addresses) in datasets and logs. A
    plain SHA-256 of such low-entropy data protects nothing: anyone can hash every known
    e-mail address, or every phone number, and look the digests up. With a secret key of 32
    random bytes (``secrets.token_bytes(32)``), kept out of the data, the digests cannot be
    reversed or linked to other datasets, while equal inputs still map to equal digests.

    Raises:
        ValueError: the key is shorter than 32 bytes or longer than 1024.
    """
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        message = f"key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes long, got {len(key)} bytes"
        raise ValueError(message)
    return hmac.new(key, _as_bytes(data), hashlib.sha256).hexdigest()
