"""Every version kubewire deploys, pinned here and nowhere else, each with its upstream source: the
add-ons' images, the CNI plugins, containerd and runc (with their sha256), the sandbox image, and
the Kubernetes package repository with its signing key.

The per-minor tables (kube-proxy, CoreDNS) cover spec.SUPPORTED_K8S_MINORS, which follows them.
"""

from __future__ import annotations

# kube-proxy runs at the cluster's own version: registry.k8s.io/kube-proxy:v<patch release>, a
# release whose kube-proxy image upstream's CHANGELOG lists (kubernetes/kubernetes
# CHANGELOG/CHANGELOG-1.<minor>.md, "Container Images"; patches per minor on
# https://kubernetes.io/releases/). 1.29 and 1.30 are past end of life: their last patches.
# Newer patches exist for 1.31-1.36; a `kubernetes_version` with a patch ("1.35.2") wins.
# 1.37 is left out until its release can be checked here.
KUBERNETES_PATCH_RELEASES = {
    29: "1.29.15",
    30: "1.30.14",
    31: "1.31.13",
    32: "1.32.9",
    33: "1.33.5",
    34: "1.34.1",
    35: "1.35.0",
    36: "1.36.0",
}
KUBE_PROXY_IMAGE = "registry.k8s.io/kube-proxy"

# CoreDNS as kubeadm installs it for each minor: constants.CoreDNSVersion in
# cmd/kubeadm/app/constants/constants.go of that release. 1.29-1.33: coredns/deployment's
# kubernetes/CoreDNS-k8s_version.md (its pull requests #301, #303, #306 read them from
# build/dependencies.yaml). 1.34-1.36: the constant at the v1.34, v1.35 and v1.36 tags as copies
# of constants.go show it; check them against the tags when bumping.
COREDNS_VERSIONS = {
    29: "v1.11.1",
    30: "v1.11.3",
    31: "v1.11.3",
    32: "v1.11.3",
    33: "v1.12.0",
    34: "v1.12.1",
    35: "v1.13.1",
    36: "v1.14.2",
}
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns"


def kubernetes_release(kubernetes_version: str) -> str:
    """The patch release for a spec's version: '1.33' -> '1.33.5'; '1.33.2' stays."""
    _major, minor, *patch = kubernetes_version.split(".")
    return kubernetes_version if patch else KUBERNETES_PATCH_RELEASES[int(minor)]


def kube_proxy_image(kubernetes_version: str) -> str:
    return f"{KUBE_PROXY_IMAGE}:v{kubernetes_release(kubernetes_version)}"


def coredns_image(minor: int) -> str:
    return f"{COREDNS_IMAGE}:{COREDNS_VERSIONS[minor]}"

# CNI plugins (containernetworking/plugins), the release tarball per architecture:
# https://github.com/containernetworking/plugins/releases/download/v<version>/cni-plugins-linux-<arch>-v<version>.tgz
# sha256 from the release's .sha256 files.
CNI_PLUGINS_VERSION = "1.8.0"
CNI_PLUGINS_URL = (
    "https://github.com/containernetworking/plugins/releases/download/v{version}/cni-plugins-linux-{arch}-v{version}.tgz"
)
CNI_PLUGINS_SHA256 = {
    "1.8.0": {
        "amd64": "ab3bda535f9d90766cccc90d3dddb5482003dd744d7f22bcf98186bf8eea8be6",
        "arm64": "57ce466fc3b79db1f19b8f4c63e07a1112306efa53c94fe810a2150dd9e07ddb",
    },
}

# Weave Net, its last release: 2.8.1 (github.com/weaveworks/weave, archived in 2024 when Weaveworks
# shut down; no fixes since). Images docker.io/weaveworks/weave-kube and weave-npc, as upstream's
# weave-daemonset-k8s.yaml of that release names them. `weave_image_repo`/`weave_image_tag` point
# at a maintained fork's images instead.
WEAVE_VERSION = "2.8.1"
WEAVE_IMAGE_REPO = "docker.io/weaveworks"

# NGINX Inc's ingress controller (github.com/nginx/kubernetes-ingress), v5.5.4: the newest 5.x in
# docs.nginx.com's changelog compatibility matrix (tested there with Kubernetes 1.29-1.36).
NGINX_INC_INGRESS_IMAGE = "docker.io/nginx/nginx-ingress:5.5.4"

# The community controller (github.com/kubernetes/ingress-nginx), controller-v1.14.5, one of its
# last two releases (v1.15.1 came out the same day), digest from changelog/controller-1.14.5.md.
# Retired upstream: no fixes after March 2026.
INGRESS_NGINX_VERSION = "v1.14.5"
INGRESS_NGINX_IMAGE = (f"registry.k8s.io/ingress-nginx/controller:{INGRESS_NGINX_VERSION}"
                       "@sha256:af3312d040dbe8d503001a1094b248e8be372f70f317a4bc35f81fb312bff3a8")
# The Kubernetes minors its README's "Supported Versions table" lists for the v1.14 controllers
# (1.30-1.34, E2E-tested upstream); others are warned about.
INGRESS_NGINX_KUBERNETES_MINORS = range(30, 35)


def weave_images(repo: str, tag: str) -> tuple[str, str]:
    """The weave-kube and weave-npc images from a repository: ('docker.io/weaveworks/weave-kube:2.8.1', …)."""
    return f"{repo}/weave-kube:{tag}", f"{repo}/weave-npc:{tag}"

# containerd, the upstream release's static build (no glibc dependency, so one tarball for every
# distribution): https://github.com/containerd/containerd/releases/download/v<version>/
# containerd-static-<version>-linux-<arch>.tar.gz, sha256 from the release's .sha256sum files
# (the same values as kubespray's roles/kubespray_defaults/vars/main/checksums.yml,
# containerd_static_archive_checksums).
CONTAINERD_VERSION = "2.2.1"
CONTAINERD_URL = ("https://github.com/containerd/containerd/releases/download/v{version}/"
                  "containerd-static-{version}-linux-{arch}.tar.gz")
CONTAINERD_SHA256 = {
    "2.2.1": {
        "amd64": "af3e82bac6abed58d45956c653244aa2be583359a9753614278ef652012f2883",
        "arm64": "6b3b011ee388638eace05ac3be0eb32dfb4a43086695c29d06e997febd336f2e",
    },
}

# runc, the OCI runtime containerd starts containers with: one static binary per architecture,
# https://github.com/opencontainers/runc/releases/download/v<version>/runc.<arch>, sha256 from the
# release's runc.sha256sum (kubespray's runc_checksums carry the same values).
RUNC_VERSION = "1.3.4"
RUNC_URL = "https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}"
RUNC_SHA256 = {
    "1.3.4": {
        "amd64": "5966ca40b6187b30e33bfc299c5f1fe72e8c1aa01cf3fefdadf391668f47f103",
        "arm64": "d6dcab36d1b6af1b72c7f0662e5fcf446a291271ba6006532b95c4144e19d428",
    },
}

# The pod sandbox ("pause") image kubeadm pre-pulls and the kubelet expects
# (constants.PauseVersion in kubernetes/cmd/kubeadm/app/constants/constants.go: 3.9 for 1.29,
# 3.10 for 1.30-1.33, 3.10.1 for 1.34 and 1.35 (v1.35.8's constants.go); 1.36 is given 1.35's
# pin, not yet read from its own branch).
PAUSE_IMAGE = "registry.k8s.io/pause"
PAUSE_VERSIONS = {29: "3.9", 30: "3.10", 31: "3.10", 32: "3.10", 33: "3.10", 34: "3.10.1", 35: "3.10.1",
                  36: "3.10.1"}

# Kubernetes packages (kubelet, kubeadm, kubectl) from the community repository, one per minor:
# https://pkgs.k8s.io/core:/stable:/v1.<minor>/deb/ (kubernetes.io "Installing kubeadm"). Every
# minor's repository is signed by the same key, published as Release.key next to it; its
# fingerprint (uid "isv:kubernetes OBS Project"). Upstream extends its expiry in place, same
# fingerprint (kubernetes/release#3818: it expired on 2024-11-02 and was extended; now 2026-12-29):
# the kubeadm role fetches it again when the node's copy has expired. Re-pin only on a new key.
KUBERNETES_APT_URL = "https://pkgs.k8s.io/core:/stable:/v1.{minor}/deb/"
KUBERNETES_APT_KEY_FINGERPRINT = "DE15B14486CD377B9E876E1A234654DA9A296436"


def pause_image(minor: int) -> str:
    return f"{PAUSE_IMAGE}:{PAUSE_VERSIONS[minor]}"

# Flannel (github.com/flannel-io/flannel) v0.27.4 and its CNI plugin (github.com/flannel-io/cni-plugin)
# v1.8.0-flannel1: the images Documentation/kustomization/kube-flannel/kube-flannel.yml names at
# flannel's v0.27.4 manifest (the source of the release's kube-flannel.yml). The plugin's release
# tarballs (cni-plugin-flannel-linux-<arch>-<tag>.tgz, scripts/package.sh) carry .sha256 files on
# the release page; their values are not pinned here yet, so the plugin comes either from the
# pinned image (upstream's install-cni-plugin init container) or from a file on the controller
# with its sha256 (`flannel_cni_plugin_source`).
FLANNEL_VERSION = "v0.27.4"
FLANNEL_IMAGE = f"ghcr.io/flannel-io/flannel:{FLANNEL_VERSION}"
FLANNEL_CNI_PLUGIN_VERSION = "v1.8.0-flannel1"
FLANNEL_CNI_PLUGIN_IMAGE = f"ghcr.io/flannel-io/flannel-cni-plugin:{FLANNEL_CNI_PLUGIN_VERSION}"
