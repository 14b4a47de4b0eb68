"""The signing key of a development node without JWT_SECRET: kept beside its SQLite file.

A key generated per start would sign everyone out at every restart of `make run`. Instead the
first start writes a random key to `<database file>.secret` (mode 0600) and later starts read it.
Production (TASKROOM_ENV=production, or a PostgreSQL DATABASE_URL) never gets here: it must set
JWT_SECRET, the same on every node.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

SECRET_SUFFIX = ".secret"
# 48 random bytes, 64 characters once encoded: past the 32 bytes HS256 wants.
KEY_BYTES = 48
MIN_KEY_CHARS = 43  # 32 bytes in URL-safe base64
# A key file has one short line; anything much larger is not one of ours.
MAX_FILE_BYTES = 4096


class SigningKeyError(Exception):
    """No signing key can be used: the node must not start. The message is for the operator."""


def needs_configured_secret(database_url: str, environment: str) -> bool:
    """Whether this node must have JWT_SECRET: production, or a database shared by several nodes."""
    return environment == "production" or make_url(database_url).get_backend_name() != "sqlite"


def development_key(database_url: str) -> str:
    """The key beside the SQLite file of `database_url` (created on first use), or a random key
    for an in-memory database, which itself ends with the process. Logs one line either way."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        logger.warning(
            "JWT_SECRET is not set and the database is in memory: signing with a random key "
            "that ends with this process"
        )
        return secrets.token_urlsafe(KEY_BYTES)
    path = Path(database + SECRET_SUFFIX)
    created = _create_if_absent(path)
    key = _read(path)
    logger.warning(
        "JWT_SECRET is not set: signing with the development key %s %s (development only; "
        "set JWT_SECRET in production)",
        "created in" if created else "kept in",
        path.resolve(),
    )
    return key


def _create_if_absent(path: Path) -> bool:
    """Write a new key to `path` unless a file is there; True when this call wrote it.

    The key is written to a private temporary file (mkstemp opens it O_EXCL with mode 0600, so it
    is never readable by others, whatever the umask) and then hard-linked into place: the link
    fails when the name exists, so of two processes starting at once exactly one wins, and the
    other never sees a half-written file. Hand-written because no library we use does this.
    """
    if path.exists():
        return False
    try:
        handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SigningKeyError(f"cannot create the development key file {path}: {exc}") from exc
    try:
        with os.fdopen(handle, "w") as file:
            file.write(secrets.token_urlsafe(KEY_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False  # another process won the race; its file is complete
        except OSError as exc:
            raise SigningKeyError(f"cannot create the development key file {path}: {exc}") from exc
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _read(path: Path) -> str:
    """The key in `path`, refused unless the file is a regular file of this user that no one
    else may read or write: a key others can read lets them sign tokens as anyone."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SigningKeyError(f"cannot read the development key file {path}: {exc}") from exc
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SigningKeyError(f"the development key file {path} is not a regular file")
        if info.st_uid != os.getuid():
            raise SigningKeyError(f"the development key file {path} belongs to another user")
        if info.st_mode & 0o077:
            raise SigningKeyError(
                f"the development key file {path} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): run `chmod 600 {path}`, "
                "or delete it to get a new key (which signs everyone out)"
            )
        key = file.read(MAX_FILE_BYTES).decode("ascii", errors="replace").strip()
    if len(key) < MIN_KEY_CHARS or any(not (c.isalnum() or c in "-_") for c in key):
        raise SigningKeyError(
            f"the development key file {path} does not hold a key: delete it to get a new one"
        )
    return key
