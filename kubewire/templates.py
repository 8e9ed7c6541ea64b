"""Jinja2 templates, found from the package's own path (never the cwd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


def render(role: str, name: str, **context: Any) -> str:
    """Render `templates/<role>/<name>` on the controller (roles upload the result only when it differs)."""
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(f"{role}/{name}").render(**context)
