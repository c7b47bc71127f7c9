"""Where the bundled templates are: one lookup for mail, pages and the web app."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_templates(kind: str) -> Path:
    """The bundled templates of ``kind`` (``email``, ``pages``, ``web``): inside the package when it is
    installed (pyproject maps the repository's ``templates/`` there), else the repository's own folder,
    which is what an editable install sees.

    :raises FileNotFoundError: neither exists (a broken install).
    """
    for candidate in (_PACKAGE / "templates" / kind, _PACKAGE.parents[1] / "templates" / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"templates/{kind} not found next to the newsroom_feed package")
