"""The kubeadm role's plans on the @fake connector: nodes, probe answers and the planned commands."""

from pyinfra.api.command import FileUploadCommand, FunctionCommand

from kubewire.facts import sha256
from kubewire.roles import kubeadm as role
from tests.unit.plan import fake_host, plan_commands, probes_answer

CP, W1, W2 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11"), ("node02", "192.168.56.12")
TOKEN, CA_HASH = "abcdef.0123456789abcdef", "sha256:" + "a" * 64
RELEASE = "1.33.5"
PACKAGES = [f"{name} {RELEASE}-1.1 install ok installed" for name in role.PACKAGES]


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


SOURCES_LINE = f"deb [signed-by={role.KEYRING}] https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /\n"


def member(**changes) -> dict:
    """A node with the packages held, the repository set up and in the cluster."""
    state = {"packages": PACKAGES, "held": list(role.PACKAGES), "available": [],
             "keyring": role.KUBERNETES_APT_KEY_FINGERPRINT, role.SOURCES: sha256(SOURCES_LINE),
             "admin.conf": "", "kubelet.conf": "joined", "node-ip": "", "cgroup driver": "systemd",
             role.INIT_CONFIG: ""}
    state.update(changes)
    return state
