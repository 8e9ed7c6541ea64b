"""Jinja2 templates, found as package data (never from the cwd).

The repository keeps them in templates/<role>/<file>.j2; pyproject.toml installs that folder
as the package `kubewire.role_templates`, so the same lookup works from a checkout installed
with `pip install -e .` and from a wheel.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(str(files("kubewire.role_templates")))


@cache
def _environment(directory: str) -> Environment:
    """One environment per directory, so each template is compiled once, not once per host and render."""
    return Environment(loader=FileSystemLoader(directory), undefined=StrictUndefined,
                       keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render(role: str, name: str, **context: Any) -> str:
    """Render `templates/<role>/<name>` on the controller (roles upload the result only when it differs)."""
    return _environment(str(TEMPLATES_DIR)).get_template(f"{role}/{name}").render(**context)
