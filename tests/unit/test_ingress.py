"""The ingress controllers (nginx-inc, ingress-nginx), their IngressClass, and Ingresses from inventory data."""

import copy

import pytest

from kubewire.manifests import ADDONS, find, manifest_problems, render_addon, render_all, schema_problems
from kubewire.spec import SUPPORTED_K8S_MINORS, HostInput, SpecError, parse_cluster
from kubewire.versions import INGRESS_NGINX_IMAGE, NGINX_INC_INGRESS_IMAGE

NGINX_INC, INGRESS_NGINX = (next(addon for addon in ADDONS if addon.name == name)
                            for name in ("nginx-ingress", "ingress-nginx"))
LOWEST, HIGHEST = f"1.{SUPPORTED_K8S_MINORS.start}", f"1.{SUPPORTED_K8S_MINORS.stop - 1}"
SHOP = {"name": "shop", "namespace": "web",
        "rules": ["shop.example.com/=shop:80", "shop.example.com/api*=api:http,tls=shop-tls"],
        "default_backend": "web:8080"}


def hosts():
    return [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"}),
            HostInput("node01", frozenset({"workers"}), {"node_ip": "192.168.56.11"})]


def spec_of(**settings):
    return parse_cluster({"ingress_enabled": True, **settings}, hosts())


def objects_of(addon=NGINX_INC, **settings):
    return render_addon(spec_of(**settings), addon).objects


def controller(objects):
    return find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def problems(**settings) -> dict:
    with pytest.raises(SpecError) as caught:
        spec_of(**settings)
    return {problem.key: problem for problem in caught.value.problems}


# Enabled, disabled, which controller ----------------------------------------------------------


def test_no_controller_by_default():
    spec = parse_cluster({}, hosts())
    assert not NGINX_INC.enabled(spec) and not INGRESS_NGINX.enabled(spec)


@pytest.mark.parametrize(("controller_key", "enabled"), [("nginx-inc", NGINX_INC), ("ingress-nginx", INGRESS_NGINX)])
def test_one_controller_at_a_time(controller_key, enabled):
    spec = spec_of(ingress_controller=controller_key)
    assert [addon.name for addon in (NGINX_INC, INGRESS_NGINX) if addon.enabled(spec)] == [enabled.name]


def test_disabled_add_ons_come_first_so_a_switched_controller_is_deleted_before_its_replacement():
    names = [manifest.name for manifest in render_all(spec_of(ingress_controller="ingress-nginx"))]
    assert names.index("nginx-ingress") < names.index("ingress-nginx")
    names = [manifest.name for manifest in render_all(spec_of())]
    assert names.index("ingress-nginx") < names.index("nginx-ingress")


# NGINX Inc's controller -----------------------------------------------------------------------


def test_nginx_inc_layout():
    objects = objects_of()
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in objects} == {
        ("Namespace", "nginx-ingress"), ("ServiceAccount", "nginx-ingress"), ("ConfigMap", "nginx-config"),
        ("ClusterRole", "nginx-ingress"), ("ClusterRoleBinding", "nginx-ingress"), ("Role", "nginx-ingress"),
        ("RoleBinding", "nginx-ingress"), ("IngressClass", "nginx"), ("Deployment", "nginx-ingress"),
        ("Service", "nginx-ingress")}


def test_nginx_inc_deployment():
    container = controller(objects_of(ingress_class="web", ingress_namespace="edge"))
    assert container["image"] == NGINX_INC_INGRESS_IMAGE
    assert container["args"][:3] == ["-nginx-configmaps=$(POD_NAMESPACE)/nginx-config", "-ingress-class=web",
                                     "-enable-custom-resources=false"]
    assert "-enable-telemetry-reporting=false" in container["args"]
    assert {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in container["env"]} == {
        "POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    assert [port["containerPort"] for port in container["ports"]] == [80, 443, 8081]
    assert container["readinessProbe"]["httpGet"] == {"path": "/nginx-ready", "port": "readiness-port"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "runAsUser": 101, "runAsNonRoot": True,
                                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}


def test_nginx_inc_custom_resources_flag():
    assert "-enable-custom-resources=true" in controller(objects_of(ingress_custom_resources=True))["args"]


def test_config_map_from_the_spec():
    objects = objects_of(ingress_config={"client-max-body-size": "8m", "worker-processes": 2})
    assert find(objects, "ConfigMap")["data"] == {"client-max-body-size": "8m", "worker-processes": "2"}


def test_node_port_service():
    service = find(objects_of(ingress_node_ports={"https": 31443}), "Service")
    assert service["spec"]["type"] == "NodePort"
    assert [(port["name"], port["port"], port["nodePort"]) for port in service["spec"]["ports"]] == [
        ("http", 80, 30080), ("https", 443, 31443)]


def test_ingress_class_and_default_annotation():
    ingress_class = find(objects_of(), "IngressClass")
    assert ingress_class["spec"] == {"controller": "nginx.org/ingress-controller"}
    assert "annotations" not in ingress_class["metadata"]
    default = find(objects_of(ingress_default_class=True), "IngressClass")
    assert default["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"}


# ingress-nginx ---------------------------------------------------------------------------------


def test_ingress_nginx_layout_without_the_admission_webhook():
    objects = objects_of(INGRESS_NGINX, ingress_controller="ingress-nginx")
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in objects} == {
        ("Namespace", "ingress-nginx"), ("ServiceAccount", "ingress-nginx"), ("ConfigMap", "ingress-nginx-controller"),
        ("ClusterRole", "ingress-nginx"), ("ClusterRoleBinding", "ingress-nginx"), ("Role", "ingress-nginx"),
        ("RoleBinding", "ingress-nginx"), ("IngressClass", "nginx"), ("Deployment", "ingress-nginx-controller"),
        ("Service", "ingress-nginx-controller")}
    container = controller(objects)
    assert container["image"] == INGRESS_NGINX_IMAGE
    assert container["args"] == ["/nginx-ingress-controller", "--election-id=ingress-nginx-leader",
                                 "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
                                 "--configmap=$(POD_NAMESPACE)/ingress-nginx-controller"]
    assert find(objects, "IngressClass")["spec"] == {"controller": "k8s.io/ingress-nginx"}


def test_ingress_nginx_is_retired_upstream():
    [warning] = [warning for warning in spec_of(ingress_controller="ingress-nginx").warnings()
                 if warning.key != "cni_plugin"]
    assert warning.key == "ingress_controller" and "retired upstream" in warning.message


# Strict validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [LOWEST, HIGHEST])
@pytest.mark.parametrize("settings", [
    {},
    {"ingress_custom_resources": True, "ingress_default_class": True, "ingress_config": {"ssl-protocols": "TLSv1.3"}},
    {"ingress_controller": "ingress-nginx", "ingress_default_class": True},
])
def test_every_object_validates_strictly(version, settings):
    spec = spec_of(kubernetes_version=version, ingress_resources=[SHOP], **settings)
    for addon in (NGINX_INC, INGRESS_NGINX):
        for obj in render_addon(spec, addon).objects:
            assert schema_problems(obj, version) == []
    render_all(spec)


# Ingresses from inventory data -----------------------------------------------------------------


def ingress_of(entry, addon=NGINX_INC, **settings):
    return find(objects_of(addon, ingress_resources=[entry], **settings), "Ingress")


def test_kubectl_rules_by_host_with_tls_and_default_backend():
    ingress = ingress_of(SHOP)
    assert ingress["metadata"]["namespace"] == "web"
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "defaultBackend": {"service": {"name": "web", "port": {"number": 8080}}},
        "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
        "rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Exact", "backend": {"service": {"name": "shop", "port": {"number": 80}}}},
            {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
        ]}}],
    }


def test_rules_as_dicts_wildcard_hosts_and_annotations():
    ingress = ingress_of({"name": "docs", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"},
                          "rules": [{"host": "*.docs.example.com", "paths": [
                              {"path": "/v(1|2)(/|$)(.*)", "path_type": "ImplementationSpecific", "service": "docs",
                               "port": 8080}]}, "/healthz=health:80"],
                          "tls": [{"hosts": ["*.docs.example.com"]}]},
                         INGRESS_NGINX, ingress_controller="ingress-nginx")
    assert ingress["metadata"]["namespace"] == "default"
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}
    assert ingress["spec"]["tls"] == [{"hosts": ["*.docs.example.com"]}]
    first, second = ingress["spec"]["rules"]
    assert first["host"] == "*.docs.example.com"
    assert first["http"]["paths"][0]["path"] == "/v(1|2)(/|$)(.*)"
    assert "host" not in second and second["http"]["paths"][0]["path"] == "/healthz"


def test_every_ingress_references_the_class_kubewire_creates():
    spec = spec_of(ingress_resources=[SHOP])
    manifest = render_addon(spec, NGINX_INC)
    objects = copy.deepcopy(list(manifest.objects))
    find(objects, "Ingress")["spec"]["ingressClassName"] = "traefik"
    [problem] = manifest_problems(spec, type(manifest)(manifest.name, tuple(objects), manifest.text, NGINX_INC))
    assert str(problem) == ("Ingress web/shop: spec.ingressClassName: 'traefik' is not an IngressClass "
                            "kubewire creates (nginx)")


def test_a_node_port_other_than_the_spec_is_refused():
    spec = spec_of()
    manifest = render_addon(spec, NGINX_INC)
    objects = copy.deepcopy(list(manifest.objects))
    find(objects, "Service")["spec"]["ports"][1]["nodePort"] = 30080
    [problem] = manifest_problems(spec, type(manifest)(manifest.name, tuple(objects), manifest.text, NGINX_INC))
    assert str(problem).startswith("Service nginx-ingress/nginx-ingress: spec.ports.1.nodePort: is 30080, not "
                                   "ingress_node_ports")


# Spec errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "key", "hint"), [
    ({"name": "shop", "rules": ["Shop.example.com/=shop:80"]}, "ingress_resources.shop.rules[0].host",
     "is not a host name"),
    ({"name": "shop", "rules": ["a.*.example.com/=shop:80"]}, "ingress_resources.shop.rules[0].host",
     "a wildcard only as the first label"),
    ({"name": "shop", "rules": ["10.0.0.1/=shop:80"]}, "ingress_resources.shop.rules[0].host", "is an IP address"),
    ({"name": "shop", "rules": ["shop.example.com/a//b=shop:80"]}, "ingress_resources.shop.rules[0].path",
     "is not a plain path, which Exact needs"),
    ({"name": "shop", "rules": [{"host": "a.example.com", "paths": [{"path": "api", "service": "shop", "port": 80}]}]},
     "ingress_resources.shop.rules[0].paths[0].path", "must start with /"),
    ({"name": "shop", "rules": [{"paths": [{"path": "/", "path_type": "Regex", "service": "shop", "port": 80}]}]},
     "ingress_resources.shop.rules[0].paths[0].path_type", "is not a path type"),
    ({"name": "shop", "rules": ["/=shop:70000"]}, "ingress_resources.shop.rules[0].port", "must be 1-65535"),
    ({"name": "shop", "rules": ["/=shop:web--http"]}, "ingress_resources.shop.rules[0].port", "is not a port name"),
    ({"name": "shop", "rules": ["/=1shop:80"]}, "ingress_resources.shop.rules[0].service", "is not a Service name"),
    ({"name": "shop", "rules": ["shop.example.com=shop:80"]}, "ingress_resources.shop.rules[0]", "is not a rule like"),
    ({"name": "Shop", "rules": ["/=shop:80"]}, "ingress_resources.0.name", "is not an Ingress name"),
    ({"name": "shop", "namespace": "web.shop", "rules": ["/=shop:80"]}, "ingress_resources.shop.namespace",
     "is not a namespace name"),
    ({"name": "shop"}, "ingress_resources.shop.rules", "no default_backend"),
    ({"name": "shop", "rules": ["/=shop:80"], "tls": [{"hosts": ["shop_.example.com"], "secret": "x"}]},
     "ingress_resources.shop.tls[0].hosts", "are not host names"),
    ({"name": "shop", "rules": ["/=shop:80"], "hosts": []}, "ingress_resources.shop.hosts", "is not an ingress key"),
])
def test_bad_ingress_data_names_the_ingress_and_rule(entry, key, hint):
    problem = problems(ingress_resources=[entry])[key]
    assert hint in problem.message, problem.message


def test_every_problem_at_once_with_the_other_spec_errors():
    found = problems(ingress_resources=[{"name": "shop", "rules": ["Shop.com/=shop:80", "/x=shop:0"]},
                                        {"name": "shop", "rules": ["/=shop:80"]}],
                     coredns_pods="maybe", service_cidr="10.96.0.1/12")
    assert {"ingress_resources.shop.rules[0].host", "ingress_resources.shop.rules[1].port", "coredns_pods",
            "service_cidr"} <= set(found)


def test_duplicate_ingress_names_in_a_namespace():
    found = problems(ingress_resources=[{"name": "shop", "rules": ["/=shop:80"]},
                                        {"name": "shop", "rules": ["/=shop:80"]}])
    assert "names must be unique" in found["ingress_resources.shop.name"].message


def test_ingresses_need_a_controller():
    with pytest.raises(SpecError) as caught:
        parse_cluster({"ingress_resources": [SHOP]}, hosts())
    [problem] = caught.value.problems
    assert problem.key == "ingress_resources" and "needs ingress_enabled = True" in problem.message


def test_custom_resources_are_nginx_incs():
    problem = problems(ingress_controller="ingress-nginx", ingress_custom_resources=True)["ingress_custom_resources"]
    assert "applies only to ingress_controller 'nginx-inc'" in problem.message


@pytest.mark.parametrize(("node_ports", "hint"), [
    ({"http": 8080}, "node ports lie in 30000-32767"),
    ({"http": 30443}, "the same node port 30443"),
    ({"web": 30080}, "must map http and/or https"),
])
def test_node_ports_in_range_and_distinct(node_ports, hint):
    assert hint in problems(ingress_node_ports=node_ports)["ingress_node_ports"].message


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("ingress_controller", "traefik", "'nginx-inc' or 'ingress-nginx'"),
    ("ingress_class", "Nginx", "is not an IngressClass name"),
    ("ingress_namespace", "kube.system", "is not a namespace name"),
    ("ingress_config", {"use-gzip": True}, "quote them"),
])
def test_invalid_setting_names_the_key(key, value, hint):
    assert hint in problems(**{key: value})[key].message


# Upstream details ----------------------------------------------------------------------------------


def test_nginx_inc_with_custom_resources_may_list_events_as_upstream_grants():
    def events_verbs(**settings):
        role = find(objects_of(**settings), "ClusterRole")
        return next(rule["verbs"] for rule in role["rules"] if rule["resources"] == ["events"])

    assert events_verbs() == ["create", "patch"]
    assert events_verbs(ingress_custom_resources=True) == ["create", "patch", "list"]


def test_tls_entries_for_one_secret_are_merged():
    entry = {"name": "shop", "rules": ["shop.example.com/=shop:80,tls=shop-tls",
                                       "shop.example.com/api*=api:80,tls=shop-tls",
                                       "www.example.com/=shop:80,tls=shop-tls", "other.example.com/=o:80,tls"]}
    assert ingress_of(entry)["spec"]["tls"] == [
        {"hosts": ["shop.example.com", "www.example.com"], "secretName": "shop-tls"},
        {"hosts": ["other.example.com"]}]


@pytest.mark.parametrize(("version", "warned"), [("1.29", True), ("1.30", False), ("1.34", False), (HIGHEST, True)])
def test_ingress_nginx_outside_its_support_matrix_is_warned(version, warned):
    from kubewire.manifests import addon_warnings

    found = addon_warnings(spec_of(ingress_controller="ingress-nginx", kubernetes_version=version))
    assert [warning.key for warning in found] == (["kubernetes_version"] if warned else [])
    assert addon_warnings(spec_of(kubernetes_version=version)) == []  # nginx-inc
