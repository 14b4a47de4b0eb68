"""Access tokens never reach a log line.

The document endpoint takes its token in the query string (`?token=…`), and uvicorn writes the
path with its query into its request and WebSocket lines (loggers `uvicorn.access` and
`uvicorn.error`). This filter rewrites any `token=` value there before a handler sees it.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(?i)([?&]token=)[^&\s\"']*")
REDACTED = "[redacted]"


class TokenRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg = _TOKEN.sub(lambda match: match.group(1) + REDACTED, message)
            record.args = None
        return True


_FILTER = TokenRedaction()
LOGGERS = ("uvicorn.access", "uvicorn.error")


def install() -> None:
    """Filter uvicorn's loggers (again after uvicorn configured them: adding it twice is a no-op)."""
    for name in LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
