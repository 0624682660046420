"""Fluent builders for API objects in tests and examples::

pod = make_pod("hello").command("sh", "-c", "echo hi").cpu("100m").build()
"""

from __future__ import annotations

import copy
from typing import Any, Self


class PodBuilder:
    def __init__(self, name: str | None = None, namespace: str = "default") -> None:
        meta: dict[str, Any] = {"namespace": namespace}
        if name is None:
            meta["generateName"] = "pod-"
        else:
            meta["name"] = name
        self._pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
            },
        }

    @property
    def _main(self) -> dict[str, Any]:
        return self._pod["spec"]["containers"][0]  # type: ignore[no-any-return]

    def image(self, image: str) -> Self:
        self._main["image"] = image
        return self

    def command(self, *argv: str) -> Self:
        self._main["command"] = list(argv)
        return self

    def shell(self, script: str) -> Self:
        return self.command("sh", "-c", script)

    def env(self, **values: str) -> Self:
        self._main.setdefault("env", []).extend({"name": k, "value": v} for k, v in values.items())
        return self

    def _resources(self, kind: str) -> dict[str, Any]:
        return self._main.setdefault("resources", {}).setdefault(kind, {})  # type: ignore[no-any-return]

    def cpu(self, quantity: str, limit: str | None = None) -> Self:
        self._resources("requests")["cpu"] = quantity
        if limit:
            self._resources("limits")["cpu"] = limit
        return self

    def memory(self, quantity: str, limit: str | None = None) -> Self:
        self._resources("requests")["memory"] = quantity
        if limit:
            self._resources("limits")["memory"] = limit
        return self

    def gpus(self, count: int) -> Self:
        self._resources("limits")["nvidia.com/gpu"] = str(count)
        return self

    def restart(self, policy: str) -> Self:
        self._pod["spec"]["restartPolicy"] = policy
        return self

    def network(self, enabled: bool = True) -> Self:
        self._pod["spec"]["hostNetwork"] = enabled
        return self

    def labels(self, **labels: str) -> Self:
        self._pod["metadata"].setdefault("labels", {}).update(labels)
        return self

    def node_selector(self, **selector: str) -> Self:
        self._pod["spec"]["nodeSelector"] = dict(selector)
        return self

    def deadline(self, seconds: int) -> Self:
        self._pod["spec"]["activeDeadlineSeconds"] = seconds
        return self

    def priority(self, value: int) -> Self:
        self._pod["spec"]["priority"] = value
        return self

    def container(self, name: str, image: str = "busybox", *argv: str) -> Self:
        self._pod["spec"]["containers"].append(
            {"name": name, "image": image, "command": list(argv)}
        )
        return self

    def init_container(self, name: str, *argv: str, image: str = "busybox") -> Self:
        self._pod["spec"].setdefault("initContainers", []).append(
            {"name": name, "image": image, "command": list(argv)}
        )
        return self

    def owner(self, obj: dict[str, Any]) -> Self:
        self._pod["metadata"].setdefault("ownerReferences", []).append(
            {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": obj["metadata"]["name"],
                "uid": obj["metadata"]["uid"],
                "controller": True,
            }
        )
        return self

    def build(self) -> dict[str, Any]:
        return copy.deepcopy(self._pod)


def make_pod(name: str | None = None, namespace: str = "default") -> PodBuilder:
    return PodBuilder(name, namespace)
