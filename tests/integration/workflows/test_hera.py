"""Unmodified Hera code submits to Dockyard's Argo API and waits for the result.

No ``from __future__ import annotations`` here: Hera reads script functions' parameter
annotations at run time and needs real types.
"""

import pytest

from dockyard.server import BackgroundControlPlane

hera = pytest.importorskip("hera.workflows")
from hera.workflows import (  # noqa: E402
    DAG,
    Container,
    Parameter,
    Steps,
    Workflow,
    WorkflowsService,
    script,
)
from hera.workflows.models import ValueFrom  # noqa: E402


@pytest.fixture(scope="module")
def service(plane: BackgroundControlPlane) -> WorkflowsService:
    return WorkflowsService(host=plane.url, token=plane.cp.token, namespace="argo")


@script(image="python:3.12")
def add(a: int, b: int) -> None:
    print(a + b)


def test_hello_world_with_output_parameter(service: WorkflowsService) -> None:
    with Workflow(
        generate_name="hello-", entrypoint="main", namespace="argo", workflows_service=service
    ) as w:
        hello = Container(
            name="hello",
            image="busybox",
            command=["sh", "-c"],
            args=["echo -n hello world > /tmp/out.txt; echo done"],
            outputs=[Parameter(name="greeting", value_from=ValueFrom(path="/tmp/out.txt"))],
        )
        with Steps(name="main"):
            hello()
    result = w.create(wait=True, poll_interval=1)
    assert result.status is not None and result.status.phase == "Succeeded"
    pods = [n for n in (result.status.nodes or {}).values() if n.type == "Pod"]
    assert len(pods) == 1
    assert pods[0].outputs is not None and pods[0].outputs.parameters is not None
    assert pods[0].outputs.parameters[0].value == "hello world"
    assert pods[0].outputs.result == "done"


def test_dag(service: WorkflowsService) -> None:
    with Workflow(
        generate_name="dag-", entrypoint="diamond", namespace="argo", workflows_service=service
    ) as w:
        echo = Container(
            name="echo",
            image="alpine:3.19",
            command=["echo", "{{inputs.parameters.message}}"],
            inputs=[Parameter(name="message")],
        )
        with DAG(name="diamond"):
            a = echo(name="A", arguments={"message": "A"})
            b = echo(name="B", arguments={"message": "B"})
            c = echo(name="C", arguments={"message": "C"})
            d = echo(name="D", arguments={"message": "D"})
            a >> [b, c] >> d
    result = w.create(wait=True, poll_interval=1)
    assert result.status is not None and result.status.phase == "Succeeded"
    phases = {n.display_name: n.phase for n in (result.status.nodes or {}).values()}
    assert phases == {
        result.metadata.name: "Succeeded",
        "A": "Succeeded",
        "B": "Succeeded",
        "C": "Succeeded",
        "D": "Succeeded",
    }


def test_script_step(service: WorkflowsService) -> None:
    with (
        Workflow(
            generate_name="script-", entrypoint="main", namespace="argo", workflows_service=service
        ) as w,
        Steps(name="main"),
    ):
        add(arguments={"a": 2, "b": 3})
    result = w.create(wait=True, poll_interval=1)
    assert result.status is not None and result.status.phase == "Succeeded"
    results = [
        n.outputs.result
        for n in (result.status.nodes or {}).values()
        if n.type == "Pod" and n.outputs
    ]
    assert results == ["5"]
