"""The controllers' RBAC: never beyond upstream's own for the features on, never short of what they need."""

import pytest

from kubewire import rbac
from kubewire.manifests import ADDONS, manifest_problems, render_addon
from kubewire.spec import HostInput, parse_cluster

BY_NAME = {addon.name: addon for addon in ADDONS}
# Every controller with every feature set kubewire offers: (add-on, settings, custom resources on).
FEATURE_SETS = [
    ("weave", {"cni_plugin": "weave"}, False),
    ("flannel", {"cni_plugin": "flannel"}, False),
    ("nginx-ingress", {"ingress_enabled": True}, False),
    ("nginx-ingress", {"ingress_enabled": True, "ingress_custom_resources": True}, True),
    ("ingress-nginx", {"ingress_enabled": True, "ingress_controller": "ingress-nginx"}, False),
]


def spec_of(**settings):
    return parse_cluster(settings, [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "10.0.0.2"})])


def rendered(addon: str, settings: dict) -> set[rbac.Triple]:
    return rbac.rendered_triples(render_addon(spec_of(**settings), BY_NAME[addon]).objects)


@pytest.mark.parametrize(("addon", "settings", "custom_resources"), FEATURE_SETS)
def test_rendered_rbac_is_within_upstreams(addon, settings, custom_resources):
    beyond = rendered(addon, settings) - rbac.ceiling(addon, custom_resources)
    assert not beyond, f"{addon} grants more than upstream: {sorted(beyond)}"


@pytest.mark.parametrize(("addon", "settings", "custom_resources"), FEATURE_SETS)
def test_rendered_rbac_holds_what_the_controller_needs(addon, settings, custom_resources):
    missing = rbac.needs(addon, custom_resources) - rendered(addon, settings)
    assert not missing, f"{addon} lacks {sorted(missing)}"


def test_custom_resource_rules_only_with_custom_resources():
    def groups(settings):
        return {group for group, _resource, _verb in rendered("nginx-ingress", {"ingress_enabled": True, **settings})}

    assert "k8s.nginx.org" not in groups({})
    assert "k8s.nginx.org" in groups({"ingress_custom_resources": True})
    assert "k8s.nginx.org" not in rbac.ceiling("nginx-ingress", custom_resources=False)


def test_the_ceiling_leaves_out_features_kubewire_never_turns_on():
    every_feature = rbac.ceiling("nginx-ingress", custom_resources=True)
    assert not {group for group, _resource, _verb in every_feature} & rbac.NGINX_INC_FEATURE_GROUPS
    assert ("apps", "replicasets", "get") in every_feature  # upstream grants it (telemetry) …
    assert ("apps", "replicasets", "get") not in rbac.needs("nginx-ingress")  # … kubewire runs without


def test_a_grant_beyond_upstreams_is_a_manifest_problem():
    spec = spec_of(ingress_enabled=True)
    manifest = render_addon(spec, BY_NAME["nginx-ingress"])
    widened = tuple({**obj, "rules": [*obj["rules"], {"apiGroups": [""], "resources": ["secrets"],
                                                      "verbs": ["delete"]}]}
                    if obj["kind"] == "ClusterRole" else obj for obj in manifest.objects)
    [problem] = manifest_problems(spec, type(manifest)(manifest.name, widened, manifest.text, manifest.addon))
    assert str(problem) == ("ClusterRole nginx-ingress: rules: grants delete core/secrets, beyond upstream's own "
                            "RBAC (kubewire/rbac.py)")


def test_rules_flatten_to_triples_ignoring_resource_names():
    role = {"kind": "Role", "rules": [{"apiGroups": ["", "apps"], "resources": ["pods"], "resourceNames": ["a"],
                                       "verbs": ["get", "list"]}]}
    assert rbac.rendered_triples([role, {"kind": "ConfigMap"}]) == {
        ("", "pods", "get"), ("", "pods", "list"), ("apps", "pods", "get"), ("apps", "pods", "list")}
