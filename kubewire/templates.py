"""Jinja2 templates, found as package data (never from the cwd).

The repository keeps them in templates/<role>/<file>.j2; pyproject.toml installs that folder
as the package `kubewire.role_templates`, so the same lookup works from a checkout installed
with `pip install -e .` and from a wheel.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined
from jinja2.bccache import Bucket

from . import paths
from .cache import key_of

TEMPLATES_DIR = Path(str(files("kubewire.role_templates")))
ENVIRONMENT_OPTIONS = {"keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True}


class CompiledTemplates(BytecodeCache):
    """Each template compiled once, not on every run: kept in the controller's cache (`paths.CACHE_DIR`
    as it is when used). Jinja rejects a kept one whose template's source changed (the bucket's
    checksum); the folder is named by Jinja's version and the environment's options, which change
    the compiled code too. Keeping it is best effort: a cache that cannot be written is not an error."""

    def _file(self, bucket: Bucket) -> Path:
        options = key_of(jinja2.__version__, ENVIRONMENT_OPTIONS)[:12]
        return paths.CACHE_DIR / f"templates-{options}" / f"{bucket.key}.cache"

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            with open(self._file(bucket), "rb") as kept:
                bucket.load_bytecode(kept)
        except OSError:
            pass

    def dump_bytecode(self, bucket: Bucket) -> None:
        path = self._file(bucket)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as written:
                bucket.write_bytecode(written)
            os.replace(written.name, path)  # whole or not at all, for a run reading it meanwhile
        except OSError:
            pass


@cache
def _environment(directory: str) -> Environment:
    """One environment per directory, so each template is compiled once, not once per host and render."""
    return Environment(loader=FileSystemLoader(directory), undefined=StrictUndefined,
                       bytecode_cache=CompiledTemplates(), **ENVIRONMENT_OPTIONS)


def render(role: str, name: str, **context: Any) -> str:
    """Render `templates/<role>/<name>` on the controller (roles upload the result only when it differs)."""
    return _environment(str(TEMPLATES_DIR)).get_template(f"{role}/{name}").render(**context)
