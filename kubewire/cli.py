"""The `kubewire` command: check a spec, verify hosts, and run the one-machine lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from . import lab as lab_module
from .errors import ManifestError, exit_with
from .inventory import load_inventory, spec_from_inventory, spec_or_exit
from .lab import LabError
from .paths import REPOSITORY_ROOT


@click.group()
def main() -> None:
    """kubewire: Kubernetes networking on real Linux nodes, with pyinfra."""


@main.command()
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
def check(inventory: str) -> None:
    """Validate INVENTORY's cluster spec offline and print a summary (exit 2 on errors)."""
    spec = spec_or_exit(lambda: spec_from_inventory(load_inventory(inventory)))
    _echo_warnings(spec)
    subnets = spec.pod_subnets()
    click.echo(f"cluster {spec.cluster_name}: Kubernetes {spec.kubernetes_version}, "
               f"CNI {spec.cni_plugin}, kube-proxy {spec.kube_proxy_mode}")
    click.echo(f"  node network   {spec.node_network}")
    click.echo(f"  pod range      {spec.pod_cidr} (a /{spec.node_pod_prefix} per node)")
    click.echo(f"  service range  {spec.service_cidr} (API server {spec.api_service_ip})")
    click.echo(f"  cluster DNS    {spec.cluster_dns_ip} ({spec.cluster_domain})")
    click.echo(f"  {len(spec.nodes)} nodes:")
    width = max(len(node.name) for node in spec.nodes)
    for node in spec.nodes:
        groups = ",".join(sorted(node.groups & {"controlplane", "workers"}))
        click.echo(f"    {node.name:<{width}}  {str(node.node_ip):<15}  pods {str(subnets[node.host]):<18}  {groups}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify(inventory: str, pytest_args: tuple[str, ...]) -> None:
    """Run the testinfra suite against INVENTORY's hosts over SSH."""
    spec_or_exit(lambda: spec_from_inventory(load_inventory(inventory)))
    command = [sys.executable, "-m", "pytest", str(REPOSITORY_ROOT / "tests/hosts"),
               f"--inventory={Path(inventory).resolve()}", "-p", "no:cacheprovider", *pytest_args]
    raise SystemExit(subprocess.call(command, cwd=REPOSITORY_ROOT))


@main.group()
def lab() -> None:
    """The one-machine lab: Debian nodes under systemd-nspawn on a bridge."""


def _lab_errors(func):
    def wrapper(*args, **kwargs):
        if os.geteuid() != 0:
            raise click.ClickException("the lab needs root (network namespaces, mounts)")
        try:
            return func(*args, **kwargs)
        except LabError as error:
            raise click.ClickException(str(error)) from None
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@lab.command()
@click.option("--nodes", "count", default=3, show_default=True, help="controlplane plus N-1 workers")
@click.option("--suite", "suites", default=lab_module.DEFAULT_SUITE, show_default=True,
              help=f"Debian suite of the nodes ({', '.join(lab_module.SUITES)}); a comma-separated list "
                   "is assigned to the nodes in turn (trixie,bookworm: controlplane trixie, node01 bookworm, ...)")
@click.option("--recreate", is_flag=True, help="start from fresh nodes even if this lab is already up")
@_lab_errors
def up(count: int, suites: str, recreate: bool) -> None:
    """Bring the lab up and wait until every node answers SSH.

    Of a lab already up, running nodes are kept as they are, stopped ones start again on their
    kept state, missing ones are made, and nodes beyond --nodes (or of another suite) are
    removed. A lab left behind by another checkout is replaced."""
    lab_module.up(count, suites=lab_module.parse_suites(suites), recreate=recreate, log=click.echo)


@lab.command()
@_lab_errors
def down() -> None:
    """Stop every node and remove what `up` made. Safe to run twice."""
    lab_module.down(log=click.echo)


@lab.command()
@_lab_errors
def status() -> None:
    """List the lab's nodes and what really runs in each.

    up: answers SSH; booting: systemd-nspawn runs, no SSH yet; orphaned: processes run in the
    node without its systemd-nspawn (`kubewire lab start` or `stop` clears them); stopped:
    nothing runs in it."""
    rows = lab_module.status()
    if not rows:
        click.echo("no lab is up (kubewire lab up)")
        return
    click.echo(f"{'NODE':<14}{'ADDRESS':<16}{'SUITE':<10}{'GROUPS':<14}{'PID':<9}{'PROCESSES':<11}STATE")
    for row in rows:
        click.echo(f"{row['name']:<14}{row['ip']:<16}{row['suite']:<10}{row['groups']:<14}{row['pid']:<9}"
                   f"{row['processes']:<11}{row['state']}")


@lab.command()
@click.argument("name")
@_lab_errors
def start(name: str) -> None:
    """Start NAME again on its kept state (after it was rebooted or stopped).

    Processes left running in it without their systemd-nspawn are stopped first."""
    lab_module.start_node(name, log=click.echo)


@lab.command()
@click.argument("name")
@_lab_errors
def stop(name: str) -> None:
    """Power NAME off, leaving nothing running in it; its disk is kept for `start`."""
    lab_module.stop_node(name)


@lab.command()
@click.argument("name")
@_lab_errors
def reboot(name: str) -> None:
    """Reboot NAME (systemctl reboot inside it) and bring it back on its kept state."""
    lab_module.reboot_node(name)


@lab.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_lab_errors
def ssh(name: str, command: tuple[str, ...]) -> None:
    """Open a shell on node NAME, or run COMMAND there."""
    args = lab_module.ssh_command(name, list(command))
    os.execvp(args[0], args)


def _echo_warnings(spec) -> None:
    from .manifests import addon_warnings  # the add-ons' own (deferred: the pipeline is heavy)

    for warning in [*spec.warnings(), *addon_warnings(spec)]:
        click.echo(f"kubewire: warning: {warning}", err=True)


@main.command(name="render")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="directory for one file per add-on, and kubeadm-config.yaml")
def render_manifests(inventory: str, out: str) -> None:
    """Render the add-ons' manifests from INVENTORY's spec and validate them offline.

    Exit 2 on spec errors, 1 when a rendered object fails validation (nothing is written)."""
    from . import manifests as pipeline

    spec = spec_or_exit(lambda: spec_from_inventory(load_inventory(inventory)))
    _echo_warnings(spec)
    try:
        manifests = pipeline.render_all(spec)
    except ManifestError as error:
        exit_with(error)
    for line in pipeline.write_manifests(manifests, spec, Path(out)):
        click.echo(line)


@main.command()
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="the picture: FILE.svg or FILE.png")
@click.option("--live", is_flag=True, help="read each node's addresses, pod routes and bridges (one SSH "
              "command per node) and mark what differs from the spec")
def diagram(inventory: str, out: str, live: bool) -> None:
    """Draw INVENTORY's cluster network (nodes, pod subnets and routes, services, ports)."""
    from .diagram import FORMATS, live_state, write_diagram
    from .diagram import diagram as draw
    from .ssh import ssh_targets

    if Path(out).suffix.lstrip(".").lower() not in FORMATS:
        raise click.BadParameter(f"{out!r}: end the file name in .svg or .png", param_hint="--out")
    loaded = load_inventory(inventory)
    spec = spec_or_exit(lambda: spec_from_inventory(loaded))
    state = live_state(ssh_targets(loaded)) if live else None
    click.echo(write_diagram(draw(spec, state), Path(out)))


if __name__ == "__main__":
    main()
