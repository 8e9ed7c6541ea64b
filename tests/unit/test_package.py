"""`pip install .` gives a working kubewire: roles as kubewire.roles, templates as package data.

The wheel is built offline from a copy of the sources (nothing written into the checkout),
unpacked as pip would install it, and used from a fresh interpreter that cannot see the checkout.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "kubewire", "roles", "templates")

USE_INSTALLED = """
import kubewire, kubewire.roles.hosts
from kubewire.templates import TEMPLATES_DIR, render
print(kubewire.__file__)
print(kubewire.roles.hosts.__file__)
print(TEMPLATES_DIR)
print(render("prereqs", "sysctl.conf.j2", sysctls={"net.ipv4.ip_forward": "1"}), end="")
"""


def files_in(folder: str) -> list[Path]:
    """Every file git would ship from a folder of the checkout (no bytecode caches)."""
    return [path for path in (ROOT / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts]


def files_to_install() -> list[str]:
    """Where each file of kubewire/, roles/ and templates/ belongs in the wheel."""
    installed_as = {"kubewire": "kubewire", "roles": "kubewire/roles", "templates": "kubewire/role_templates"}
    return [f"{installed_as[folder]}/{path.relative_to(ROOT / folder).as_posix()}"
            for folder in installed_as for path in files_in(folder)]


def build_wheel(tmp_path: Path) -> tuple[Path, str]:
    """The wheel, and what the build printed."""
    source = tmp_path / "src"
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / name).is_dir() else {}))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True, capture_output=True,
                           text=True)
    [wheel] = (tmp_path / "dist").glob("kubewire-*.whl")
    return wheel, built.stdout + built.stderr


def test_the_wheel_installs_roles_and_templates_inside_kubewire(tmp_path):
    (tmp_path / "src").mkdir()
    wheel, log = build_wheel(tmp_path)
    # setuptools warns when a folder it sees is not configured (a template folder left out, once).
    assert "Warning" not in log, log
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"kubewire", wheel.name.split("-py")[0] + ".dist-info"}, top_level  # no `roles`, `templates`
    missing = sorted(set(files_to_install()) - set(names))
    assert not missing, f"the wheel lacks {missing}"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    ran = subprocess.run([sys.executable, "-c", USE_INSTALLED], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                         capture_output=True, text=True, check=True)
    package, role, templates_dir, *rendered = ran.stdout.splitlines()
    assert Path(package).is_relative_to(site) and Path(role).is_relative_to(site), ran.stdout
    assert Path(templates_dir) == site / "kubewire" / "role_templates"
    assert "net.ipv4.ip_forward = 1" in rendered


FAKE_INVENTORY = '''
_PROBED = [f"@@kubewire-probe {name}" for name in ("hostname", "hosts-file")]
_PREREQS = ["@@kubewire-probe packages", "@@kubewire-probe modules-file", "@@kubewire-probe sysctl-file",
           "@@kubewire-probe sysctls", "@@kubewire-probe module overlay", "loaded",
           "@@kubewire-probe module br_netfilter", "loaded", "@@kubewire-probe swaps",
           "@@kubewire-probe fstab swap", "@@kubewire-probe swap units"]
_NODE = {"fake_delay": 0, "fake_responses": {"@@kubewire-probe hostname": _PROBED,
                                            "@@kubewire-probe packages": _PREREQS}}
controlplane = [("@fake/controlplane", {"node_name": "controlplane", "node_ip": "192.168.56.10", **_NODE})]
workers = [("@fake/node01", {"node_name": "node01", "node_ip": "192.168.56.11", **_NODE})]
node_cidr = "192.168.56.0/24"
'''


def test_the_readme_example_deploy_runs_from_another_directory(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use a role from your own deploy", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_deploy.py").write_text(example)
    (tmp_path / "my_inventory.py").write_text(FAKE_INVENTORY)
    result = subprocess.run([sys.executable, "-m", "pyinfra", "my_inventory.py", "my_deploy.py", "--dry"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Hosts | Hostname and /etc/hosts with every cluster node" in result.stdout + result.stderr
    assert "Prerequisites | Packages, kernel modules, sysctls and swap off" in result.stdout + result.stderr
