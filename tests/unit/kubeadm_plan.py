"""The kubeadm role's plans on the @fake connector: nodes, probe answers and the planned commands."""

from pyinfra.api.command import FileUploadCommand, FunctionCommand

from kubewire.roles import kubeadm as role
from tests.unit.plan import fake_host, plan_commands, probes_answer

CP, W1, W2 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11"), ("node02", "192.168.56.12")
TOKEN, CA_HASH = "abcdef.0123456789abcdef", "sha256:" + "a" * 64


def run(nodes: list[tuple], states: dict[str, dict], **data) -> dict[str, list]:
    """Plan the role for controlplane + workers, each answering its probe from `states`."""
    hosts = [fake_host(*node, probes_answer(states[node[0]])) for node in nodes]
    return plan_commands(hosts[:1], hosts[1:], role.kubeadm, settings=data)


def strings(commands: list) -> list[str]:
    return [str(command) for command in commands if not isinstance(command, (FileUploadCommand, FunctionCommand))]


def fresh() -> dict:
    return {"packages": [], "held": [], "available": [], "pkgs.k8s.io": "reachable", "keyring": "", role.SOURCES: "",
            "admin.conf": "", "kubelet.conf": "", "node-ip": "", "cgroup driver": "", role.INIT_CONFIG: "",
            "node cidrs": []}
