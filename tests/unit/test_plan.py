"""The unit harness itself: a plan records what each upload really writes, and where."""

from io import StringIO

from pyinfra.operations import files

from kubewire.operations import UPLOAD_BUNDLE, checks, step, text_file
from tests.unit.plan import Upload, fake_host, plan


def test_uploads_from_text_a_path_and_a_template_are_recorded_with_their_content(tmp_path):
    binary = tmp_path / "plugin"
    binary.write_bytes(b"\x7fELF\xff\x00")
    template = tmp_path / "motd.j2"
    template.write_text("welcome to {{ host.data.node_name }}\n")

    def deploy():
        files.put(name="text", src=StringIO("a = 1\n"), dest="/etc/a b.conf")
        files.put(name="file", src=str(binary), dest="/opt/cni/bin/plugin")
        files.template(name="template", src=str(template), dest="/etc/motd")

    planned = plan([fake_host("controlplane", "192.168.56.10")], [fake_host("node01", "192.168.56.11")], deploy)
    assert planned.uploads["node01"] == [Upload("a = 1\n", "/etc/a b.conf"),
                                         Upload(b"\x7fELF\xff\x00", "/opt/cni/bin/plugin"),
                                         Upload("welcome to node01\n", "/etc/motd")]
    assert planned.uploaded("controlplane", "/etc/motd") == "welcome to controlplane\n"
    assert "upload /etc/a b.conf" in planned["node01"]


def test_files_that_travel_in_one_bundle_are_recorded_where_it_is_split():
    texts = {"/etc/kubewire/a.nft": "table inet kubewire {}\n", "/etc/kubewire/ü.conf": "ünïcode\n",
             "/etc/kubewire/empty": "", "/etc/kubewire/last": "no newline"}

    def deploy():
        checks(steps=[step(f"Write {path}", text_file, path=path, text=text, current_digest="")
                      for path, text in texts.items()])

    planned = plan([fake_host("controlplane", "192.168.56.10")], [], deploy)
    commands = planned["controlplane"]
    assert commands.count(f"upload {UPLOAD_BUNDLE}") == 1
    assert commands[commands.index(f"upload {UPLOAD_BUNDLE}") + 1:] == [f"upload {path}" for path in texts]
    assert planned.uploads["controlplane"][1:] == [Upload(text, path) for path, text in texts.items()]
