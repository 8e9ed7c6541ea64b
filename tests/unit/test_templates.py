"""Compiled templates kept between runs: used while their template is unchanged, never after."""

import pytest
from jinja2 import Environment

from kubewire import paths, templates


@pytest.fixture(autouse=True)
def no_environment_left_behind():
    yield
    templates._environment.cache_clear()  # later tests get the package's templates again


def fresh_environment(directory):
    """What a new run gets: no template compiled in this process yet."""
    templates._environment.cache_clear()
    return templates._environment(str(directory))


def test_a_kept_template_is_not_compiled_again_and_a_changed_one_is(tmp_path, monkeypatch):
    (tmp_path / "role").mkdir()
    template = tmp_path / "role" / "unit.j2"
    template.write_text("port {{ port }}\n")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    assert fresh_environment(tmp_path).get_template("role/unit.j2").render(port=1) == "port 1\n"

    compiled = []
    compile_source = Environment.compile
    monkeypatch.setattr(Environment, "compile", lambda self, source, name=None, *args, **kwargs:
                        compiled.append(name) or compile_source(self, source, name, *args, **kwargs))
    assert fresh_environment(tmp_path).get_template("role/unit.j2").render(port=2) == "port 2\n"
    assert compiled == []

    template.write_text("listen {{ port }}\n")  # as an upgrade of kubewire changes a template
    assert fresh_environment(tmp_path).get_template("role/unit.j2").render(port=3) == "listen 3\n"
    assert compiled == ["role/unit.j2"]


def test_a_cache_that_cannot_be_written_only_costs_compiling(tmp_path, monkeypatch):
    (tmp_path / "role").mkdir()
    (tmp_path / "role" / "unit.j2").write_text("port {{ port }}\n")
    (tmp_path / "not-a-directory").write_text("")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "not-a-directory")
    for port in (1, 2):
        assert fresh_environment(tmp_path).get_template("role/unit.j2").render(port=port) == f"port {port}\n"
