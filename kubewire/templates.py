"""Jinja2 templates, found from the package's own path (never the cwd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


def template_path(role: str, name: str) -> str:
    path = TEMPLATES_DIR / role / name
    if not path.is_file():
        raise FileNotFoundError(f"no template {path}")
    return str(path)


def jinja_env_kwargs() -> dict[str, Any]:
    """Fresh keyword arguments for every call: pyinfra pops `loader` from the dict it is given."""
    return {"loader": FileSystemLoader(str(TEMPLATES_DIR)), "trim_blocks": True, "lstrip_blocks": True}


def render(role: str, name: str, **context: Any) -> str:
    """Render a template on the controller, exactly as the roles' `files.template` does."""
    environment = Environment(undefined=StrictUndefined, keep_trailing_newline=True, **jinja_env_kwargs())
    return environment.get_template(f"{role}/{name}").render(**context)
