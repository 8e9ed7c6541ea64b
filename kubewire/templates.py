"""Jinja2 templates, found as package data (never from the cwd).

The repository keeps them in templates/<role>/<file>.j2; pyproject.toml installs that folder
as the package `kubewire.role_templates`, so the same lookup works from a checkout installed
with `pip install -e .` and from a wheel.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(str(files("kubewire.role_templates")))


def render(role: str, name: str, **context: Any) -> str:
    """Render `templates/<role>/<name>` on the controller (roles upload the result only when it differs)."""
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(f"{role}/{name}").render(**context)
