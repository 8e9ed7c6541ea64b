"""The README documents every data key: the spec's and each role's defaults."""

import importlib
import pkgutil
import re
from pathlib import Path

import roles
from kubewire.spec import CLUSTER_KEYS, HOST_KEYS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DOCUMENTED = set(re.findall(r"^\| `([a-z_]+)` \|", README, re.M))


def role_modules():
    return [importlib.import_module(f"roles.{info.name}") for info in pkgutil.iter_modules(roles.__path__)]


def test_every_spec_key_is_in_the_readme():
    spec_keys = set(CLUSTER_KEYS) | set(HOST_KEYS)
    assert spec_keys <= DOCUMENTED, spec_keys - DOCUMENTED


def test_every_role_key_is_in_the_readme_and_prefixed_by_its_role():
    for module in role_modules():
        role = module.__name__.rsplit(".", 1)[1]
        for key in module.DEFAULTS:
            assert key.startswith(f"{role}_"), f"{module.__name__}: {key} lacks the prefix {role}_"
            assert key in DOCUMENTED, f"{key} (role {role}) is missing from the README's tables"
