"""The README documents every data key, with the default and meaning the code has, and each role
passes exactly its own settings as pyinfra data defaults."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import kubewire.roles as roles
from kubewire import docs
from kubewire.spec import CLUSTER_KEYS, CLUSTER_ROLES, HOST_KEYS, NODE_ROLES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DOCUMENTED = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README, re.M))


def role_modules():
    return {info.name: importlib.import_module(f"kubewire.roles.{info.name}")
            for info in pkgutil.iter_modules(roles.__path__)}


def test_the_readme_key_tables_are_the_generated_ones():
    # Each key's meaning and default live in its field; `python -m kubewire.docs` rewrites the tables.
    assert docs.with_tables(README) == README, "the README's key tables drifted: run python -m kubewire.docs"


def test_every_spec_key_is_in_the_readme():
    spec_keys = set(CLUSTER_KEYS) | set(HOST_KEYS)
    assert spec_keys <= DOCUMENTED, spec_keys - DOCUMENTED


def test_every_role_key_is_in_the_readme_and_prefixed_by_its_role():
    for role, settings in {**NODE_ROLES, **CLUSTER_ROLES}.items():
        for key in settings.keys():
            assert key.startswith(f"{role}_"), f"{key} lacks the prefix {role}_"
            assert key in DOCUMENTED, f"{key} (role {role}) is missing from the README's tables"


def test_every_key_has_a_description():
    fields = [info for settings in {**NODE_ROLES, **CLUSTER_ROLES}.values() for info in settings.model_fields.values()]
    assert all(info.description for info in fields)


def test_the_readme_says_cluster_role_keys_are_refused_in_host_data():
    for key in CLUSTER_ROLES["coredns"].keys():
        assert f"| `{key}` | group (cluster-wide) |" in README
    assert "in one host's data\nthey are refused" in README or "in one host's data they are refused" in README


def test_no_role_carries_defaults_of_its_own():
    # A role reads its settings from the spec; a second copy of the defaults (pyinfra's
    # data_defaults) would be read by nothing and could drift from the fields' own.
    for name, module in role_modules().items():
        assert not hasattr(module, "DEFAULTS"), name
        assert "data_defaults" not in inspect.getsource(module), name


def test_every_role_has_keys_or_says_what_it_follows():
    for name in set(role_modules()) - set(NODE_ROLES) - set(CLUSTER_ROLES) - {"addons"}:
        assert name in docs.ROLES_WITHOUT_KEYS, f"role {name} has no keys; say in the README what it follows"


def test_the_kubelet_role_is_documented():
    assert "- **kubelet** (" in README
