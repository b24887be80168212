"""Choosing a runtime: whether a topology needs Docker, and the same topology with its
container nodes on namespaces or containers."""

from typing import Optional

from netplay.core.errors import InputError
from netplay.model.serialize import to_dict
from netplay.model.topology import RUNTIMES, Topology
from netplay.model.validate import check_image, from_dict


def uses_docker(topo: Topology) -> bool:
    return any(n.kind == "docker" for n in topo.nodes.values())


def with_runtime(topo: Topology, runtime: Optional[str], image: Optional[str] = None) -> Topology:
    """The same topology with its container nodes on `runtime` (None: as they are), and
    `image` (None: unchanged) as the default image.

    netns and docker nodes are interchangeable: both are a named network namespace, one
    held by `ip netns add`, the other by a container's process.
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise InputError(f"--runtime: unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    data = to_dict(topo)
    if image:
        data["image"] = check_image(image, "--image")
    for node in data["nodes"].values():
        if runtime and node["kind"] in RUNTIMES:
            node["kind"] = runtime
    return from_dict(data, source=topo.name)
