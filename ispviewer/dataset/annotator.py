"""Who is deciding: the person a decision made in this process is recorded under.

The name comes from ``ISPVIEWER_USER`` when it is set, else from the caller's setting (the
desktop app passes the name chosen in its settings), else from the operating system's login.
"""

from __future__ import annotations

import getpass
import os

ENV_VAR = "ISPVIEWER_USER"


def current_annotator(setting: str | None = None) -> str:
    """The person's name for the history and the export (never empty)."""
    for name in (os.environ.get(ENV_VAR), setting):
        if name and name.strip():
            return name.strip()
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        login = ""
    if login.strip():
        return login.strip()
    return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
