"""Access tokens never reach a log line.

The document endpoint takes its token in the query string (`?token=…`), and uvicorn writes the
path with its query into its request and WebSocket lines (loggers `uvicorn.access` and
`uvicorn.error`). This filter rewrites the value of every query parameter whose name is a token
before a handler sees it.

A name is judged by what it decodes to, not by how it is spelt: `%74oken`, `TOKEN` and
`to%6Ben` all read as `token` to a URL parser, so a log must not keep any of them. Redacting a
parameter too many costs nothing; `access_token` and the like are redacted as well. Anything
shaped like a JWT (the node's tokens) is redacted wherever it stands in the line, so a token
sent under another name, or inside another value, is not logged either; so are refresh tokens
(prefix `trr_`), which travel in JSON bodies that no log line of the node includes, and API keys
(prefix `trk_`).
An invitation's token travels in the path (`/api/v1/invitations/{token}/accept`): the segment
after a top-level `/invitations/` is redacted whatever it holds, and so is anything shaped like
an invitation token (`tri_…`) wherever it stands. `/workspaces/{id}/invitations/{invId}` names
an invitation by its id, which is no secret, and stays as it is.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# One `name=value` pair of a query: after `?` or `&`, up to the next `&`, space or quote (the
# ends of a path inside a log line).
_PARAMETER = re.compile(r"([?&])([^=&\s\"']*)=([^&\s\"']*)")
# Three base64url parts, the first a JSON object (`{"` encodes as `eyJ`).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# An invitation path: group 1 is set when it is a workspace's list (`/workspaces/{id}/invitations/`).
_INVITATION_PATH = re.compile(r"(/workspaces/[^/\s\"'?]+)?(/invitations/)([^/\s\"'?&#]+)")
_INVITATION_TOKEN = re.compile(r"\btri_[A-Za-z0-9_-]+")
# A refresh token (services/sessions.py gives them this prefix), wherever it stands.
_REFRESH = re.compile(r"trr_[A-Za-z0-9_-]+")
# An API key (PROTOCOL §5.3 gives them this prefix), wherever it stands.
_API_KEY = re.compile(r"trk_[A-Za-z0-9_-]+")
REDACTED = "[redacted]"
# A name encoded more than once decodes to `token` only to a parser that decodes it more than
# once; no parser in the node does, but a proxy might. A few rounds cover that and stay cheap.
_DECODE_ROUNDS = 3


def is_token_name(name: str) -> bool:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return "token" in name.strip().lower()


def redact(message: str) -> str:
    """`message` with the value of every token parameter of every query in it replaced."""

    def replace(match: re.Match[str]) -> str:
        if not is_token_name(match.group(2)):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}={REDACTED}"

    def replace_invitation(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(0)
        return f"{match.group(2)}{REDACTED}"

    message = _INVITATION_PATH.sub(replace_invitation, message)
    message = _INVITATION_TOKEN.sub(REDACTED, message)
    message = _API_KEY.sub(REDACTED, message)
    return _REFRESH.sub(REDACTED, _JWT.sub(REDACTED, _PARAMETER.sub(replace, message)))


class TokenRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            # uvicorn's access formatter reads the arguments one by one: redact each, keep the tuple.
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            return True
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


_FILTER = TokenRedaction()
# `taskroom.auth`: the authentication lines (`edge/audit.py`), a client's close reason among them.
LOGGERS = ("uvicorn.access", "uvicorn.error", "taskroom.auth")


def install() -> None:
    """Filter uvicorn's loggers (again after uvicorn configured them: adding it twice is a no-op)."""
    for name in LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
