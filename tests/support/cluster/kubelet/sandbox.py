"""A pod's folders on this host, standing in for its volumes; in-pod paths rewritten to them.

Every volume is a folder under the pod's own directory: emptyDir empty,
configMap and secret filled from the API object (all keys, or `items`, with
their modes), persistentVolumeClaim the folder the harness settings name for
the claim. A container's absolute in-pod paths (its mountPaths, subPaths,
terminationMessagePath, its image's own files) are rewritten to those folders
wherever they appear as a path in its command, args, env and workingDir: the
container has no mount namespace, so the paths it is told are the host's.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from .environment import Lookup

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


class MountError(Exception):
    """A volume cannot be set up (the kubelet's FailedMount): the pod waits in ContainerCreating."""


class PathMap:
    """Rewrites in-pod absolute paths (longest first) where they stand as a whole path component."""

    def __init__(self, table: Mapping[str, str]):
        self._table = {k.rstrip("/") or "/": v for k, v in table.items()}
        keys = sorted(self._table, key=len, reverse=True)
        self._pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, keys)) + r")(?=/|$|[^\w.-])") \
            if keys else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._table[m.group(1)], text)


class Sandbox:
    def __init__(self, root: Path):
        self.root = root
        self.volumes: dict[str, Path] = {}
        root.mkdir(parents=True)

    def mount(self, pod: dict, lookup: Lookup, claims: Mapping[str, Path]) -> None:
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume["name"]
            if name in self.volumes:
                continue
            folder = self.root / "volumes" / name
            if "emptyDir" in volume:
                folder.mkdir(parents=True, exist_ok=True)
            elif "configMap" in volume or "secret" in volume:
                _fill(folder, volume, namespace, lookup)
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                if claim not in claims:
                    raise MountError(f'persistentvolumeclaim "{claim}" not found')
                folder = claims[claim]
            else:
                kinds = sorted(set(volume) - {"name"})
                raise MountError(f"volume {name}: {kinds} volumes are not supported by the loopback harness")
            self.volumes[name] = folder

    def scratch(self, container: str) -> Path:
        """The container's writable layer (and HOME)."""
        folder = self.root / "containers" / container
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def termination_log(self, container: str) -> Path:
        return self.scratch(container) / "termination-log"

    def paths(self, container: dict, image_files: Mapping[str, str]) -> PathMap:
        table = dict(image_files)
        for mount in container.get("volumeMounts") or []:
            host = self.volumes[mount["name"]]
            if mount.get("subPath"):
                host = host / mount["subPath"]
                host.mkdir(parents=True, exist_ok=True)
            table[mount["mountPath"]] = str(host)
        table[container.get("terminationMessagePath", DEFAULT_TERMINATION_LOG)] = \
            str(self.termination_log(container["name"]))
        return PathMap(table)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _fill(folder: Path, volume: dict, namespace: str, lookup: Lookup) -> None:
    kind, source = ("configmaps", volume["configMap"]) if "configMap" in volume else ("secrets", volume["secret"])
    name = source.get("name") or source.get("secretName")
    obj = lookup(kind, namespace, name)
    if obj is None:
        if source.get("optional"):
            folder.mkdir(parents=True, exist_ok=True)
            return
        raise MountError(f'{kind[:-1]} "{name}" not found')
    decode: Callable[[str], bytes] = base64.b64decode
    files = {k: v.encode() for k, v in (obj.get("data") or {}).items()} if kind == "configmaps" else \
        {k: decode(v) for k, v in (obj.get("data") or {}).items()}
    if kind == "configmaps":
        files.update({k: decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    items = source.get("items")
    wanted = [(i["key"], i["path"], i.get("mode")) for i in items] if items else [(k, k, None) for k in files]
    folder.mkdir(parents=True, exist_ok=True)
    for key, path, mode in wanted:
        if key not in files:
            raise MountError(f"{kind[:-1]} {namespace}/{name}: no key {key}")
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[key])
        target.chmod(mode or source.get("defaultMode", 0o644))
