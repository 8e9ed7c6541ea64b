"""The README documents every data key: the spec's and each role's defaults."""

import importlib
import pkgutil
import re
from pathlib import Path

import kubewire.roles as roles
from kubewire.spec import CLUSTER_KEYS, CLUSTER_ROLES, HOST_KEYS, NODE_ROLES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DOCUMENTED = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README, re.M))


def role_modules():
    return [importlib.import_module(f"kubewire.roles.{info.name}") for info in pkgutil.iter_modules(roles.__path__)]


def test_every_spec_key_is_in_the_readme():
    spec_keys = set(CLUSTER_KEYS) | set(HOST_KEYS)
    assert spec_keys <= DOCUMENTED, spec_keys - DOCUMENTED


def test_every_role_key_is_in_the_readme_and_prefixed_by_its_role():
    for role, settings in {**NODE_ROLES, **CLUSTER_ROLES}.items():
        for key in settings.keys():
            assert key.startswith(f"{role}_"), f"{key} lacks the prefix {role}_"
            assert key in DOCUMENTED, f"{key} (role {role}) is missing from the README's tables"


def test_every_role_module_passes_its_settings_as_data_defaults():
    for module in role_modules():
        assert set(getattr(module, "DEFAULTS", {})) <= {key for settings in {**NODE_ROLES, **CLUSTER_ROLES}.values()
                                        for key in settings.keys()}, module.__name__
