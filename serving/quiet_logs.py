"""A rejected request is the client's mistake: one WARNING line, no data.

BentoML logs every 4xx as an ERROR with a traceback quoting the input (ids, e-mails); this filter
rewrites it to one line naming the route and the kind of error. 5xx keep their traceback.
"""

from __future__ import annotations

import logging

BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


def _client_error_kind(exc: BaseException) -> str | None:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        kinds = sorted({str(e.get("type")) for e in exc.errors(include_input=False)})
        return f"validation error ({exc.error_count()}: {', '.join(kinds)})"
    if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
        return f"{type(exc).__name__} ({int(exc.error_code)})"
    return None


class ClientErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        kind = _client_error_kind(exc) if exc is not None else None
        if kind is None:
            return True
        where = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "rejected request on %s: %s"
        record.args = (where, kind)
        record.levelno = logging.WARNING
        record.levelname = "WARNING"
        record.exc_info = None
        record.exc_text = None
        return True


def install() -> None:
    """Idempotent: at most one filter on BentoML's HTTP logger."""
    target = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in target.filters):
        target.addFilter(ClientErrorFilter())
