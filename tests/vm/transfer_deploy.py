"""Secrets through the inventory's sudo, by the kubeadm role's own functions, as a run moves them:
each node's JoinConfiguration uploaded (with the stand-in token KUBEWIRE_STAND_IN_TOKEN: no cluster
here), and the root-only file KUBEWIRE_ROOT_ONLY_FILE made and fetched to KUBEWIRE_TRANSFER_OUT/<host>.conf
on the controller. The test removes both files from the nodes."""

import os
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import python, server

from kubewire.roles import kubeadm

ROOT_ONLY_FILE = os.environ["KUBEWIRE_ROOT_ONLY_FILE"]

kubeadm._run_secrets.update(token=os.environ["KUBEWIRE_STAND_IN_TOKEN"], ca_cert_hash="sha256:" + "0" * 64)


@operation(is_idempotent=False)
def join_config_only(host_name: str):
    yield from kubeadm.join_config_uploaded(host_name)


join_config_only(name="Upload the JoinConfiguration", host_name=host.name)
server.shell(name="A file only root may read", commands=[
    f"install -m 600 /dev/null {shlex.quote(ROOT_ONLY_FILE)} && "
    f"echo {shlex.quote(f'secret of {host.name}')} > {shlex.quote(ROOT_ONLY_FILE)}"])
python.call(name="Fetch it", function=kubeadm.fetch_private, remote=ROOT_ONLY_FILE,
            local=str(Path(os.environ["KUBEWIRE_TRANSFER_OUT"]) / f"{host.name}.conf"))
