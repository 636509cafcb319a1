"""Pseudonymised columns: identifying values replaced by keyed digests.

A column listed in ``data.pseudonymize`` (an e-mail address, a customer number) is replaced
by the HMAC-SHA256 of each value under a secret key, in the prepared data and in every row
given to ``predict`` or the API. Equal values keep equal digests, so the column still
groups and joins; without the key nobody can recompute a digest from a known value.

The key comes from the environment only, never from a settings file that could be
committed: ``<PREFIX>PSEUDONYMIZATION_KEY``, at least 32 characters, the same for every
command (a new key gives new digests: prepare and train again).
"""

import os

import pandas as pd

from . import ENV_PREFIX
from ._exceptions import ConfigError
from .schema import category_text
from .security import MIN_KEY_BYTES, keyed_digest

KEY_ENV_VAR = f"{ENV_PREFIX}PSEUDONYMIZATION_KEY"


def pseudonymization_key(columns: tuple[str, ...]) -> bytes:
    """Return the key for pseudonymising ``columns``, from ``KEY_ENV_VAR``.

    Raises:
        ConfigError: the variable is not set, or is shorter than 32 bytes.
    """
    names = ", ".join(repr(name) for name in columns)
    text = os.environ.get(KEY_ENV_VAR, "")
    if not text:
        raise ConfigError(
            f"data.pseudonymize lists {names}, but {KEY_ENV_VAR} is not set: set it to a "
            f"secret of at least {MIN_KEY_BYTES} characters, the same for every command "
            """(python -c "import secrets; print(secrets.token_urlsafe(32))" makes one)"""
        )
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{KEY_ENV_VAR} has {len(key)} bytes: a key needs at least {MIN_KEY_BYTES}"
        )
    return key


def key_fingerprint(key: bytes) -> str:
    """Identify a key without revealing it: the digest of a fixed text under the key."""
    return keyed_digest("pseudonymization key fingerprint", key)[:16]


def pseudonymize(frame: pd.DataFrame, columns: tuple[str, ...], key: bytes) -> pd.DataFrame:
    """Return ``frame`` with each of ``columns`` (those present) replaced by digests.

    Values are compared as text first (``category_text``), so ``42`` and ``"42"`` get one
    digest; missing values stay missing.
    """
    present = [name for name in columns if name in frame.columns]
    if not present:
        return frame
    frame = frame.copy()
    for name in present:
        text = category_text(frame[name])
        digests = {value: keyed_digest(value, key) for value in text.dropna().unique()}
        frame[name] = text.map(digests)
    return frame
