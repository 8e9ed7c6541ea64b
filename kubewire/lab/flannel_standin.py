"""A stand-in for the flannel CNI plugin in the lab: no flannel plugin is packaged for Debian, and
the lab cannot fetch upstream's release. It is a shell script, not flannel: it answers the CNI
VERSION command and refuses every other with a CNI error saying what it is. The lab has no cluster
(so no flanneld), which is what it needs: a file for `flannel_cni_plugin_source: file` to install,
check and remove. Never use it outside the lab.
"""

from __future__ import annotations

import hashlib

from .. import paths

STANDIN = """#!/bin/sh
# kubewire lab stand-in for the flannel CNI plugin (flannel-io/cni-plugin): not flannel.
if [ "$CNI_COMMAND" = VERSION ]; then
    echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}'
    exit 0
fi
echo '{"cniVersion":"0.3.1","code":999,"msg":"kubewire lab stand-in for the flannel CNI plugin: no pod networking"}'
exit 1
"""


def flannel_standin() -> tuple[str, str]:
    """The stand-in's path on the controller (written once into the cache) and its sha256."""
    path = paths.CACHE_DIR / "flannel-cni-plugin-lab-standin"
    if not path.is_file() or path.read_text() != STANDIN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STANDIN)
    return str(path), hashlib.sha256(STANDIN.encode()).hexdigest()
