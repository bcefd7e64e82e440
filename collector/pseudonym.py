"""Operator identities are pseudonymous ids, never names: checked wherever one enters a file.

An id is 1-32 characters of ASCII letters, digits, ``_``, ``.`` and ``-``, starting with a
letter or digit (``op_17``, ``baoan-07``). A name with a space, a Chinese name or an e-mail
address is refused, so it cannot reach an ``episode.json``, a bag or a dataset. Sites keep
the table from ids to people themselves, off the rigs. :func:`derive_id` makes a stable id
from a name and a site secret for sites that have none.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from collector.errors import CollectorError

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # fullmatch: "$" would accept a trailing newline


class PseudonymError(CollectorError):
    """A value that should be a pseudonymous id looks like a name or is malformed."""


def check_operator_id(value: str, *, what: str = "operator") -> str:
    """Return ``value`` if it is a pseudonymous id (``""``: none given).

    Raises:
        PseudonymError: naming ``what`` and the value.
    """
    if isinstance(value, str) and (value == "" or _ID_RE.fullmatch(value)):
        return value
    raise PseudonymError(
        f"{what} {value!r} is not a pseudonymous id (1-32 of A-Z a-z 0-9 _ . -, e.g. op_17): "
        "record people under ids, never names"
    )


def derive_id(name: str, secret: str, *, prefix: str = "op") -> str:
    """A stable pseudonymous id for ``name`` under the site's ``secret`` (HMAC-SHA256).

    Raises:
        PseudonymError: ``name`` or ``secret`` is empty.
    """
    if not name.strip() or not secret:
        raise PseudonymError("derive_id needs a name and a non-empty site secret")
    digest = hmac.new(secret.encode("utf-8"), name.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}_{digest[:10]}"
