"""How the workflows feature plugs into the control plane (see dockyard.control.extensions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.control import Controller, Platform, WatchSource, owner_mapper
from dockyard.workflows._api import build_router
from dockyard.workflows._argosay import register_argosay
from dockyard.workflows._config import load_config
from dockyard.workflows._controller import WorkflowReconciler
from dockyard.workflows._cron import CronReconciler
from dockyard.workflows._kinds import CRON_WORKFLOW, WORKFLOW
from dockyard.workflows._pods import files_root
from dockyard.workflows._ray import POD, RayPodRunner
from dockyard.workflows._simulated import SimulatedStepRunner, register_simulated_node


def accept_as_running(info: Any, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """A new Workflow reports ``Running`` from the moment it is accepted: clients such as
    Hera stop waiting at any other phase, including a queued workflow's."""
    if old is None and not (obj.get("status") or {}).get("phase"):
        obj["status"] = {"phase": "Running"}


class WorkflowsExtension:
    name = "workflows"

    def __init__(self) -> None:
        self.reconciler: WorkflowReconciler | None = None
        self.ray_runner: RayPodRunner | None = None

    def install(self, platform: Platform) -> None:
        register_argosay()
        data_dir = Path(platform.data_dir)
        config = load_config(data_dir)
        reconciler = WorkflowReconciler(
            platform.store,
            files_root(data_dir),
            config=config,
            memo_dir=data_dir / "workflow-memo",
        )
        controller = Controller(
            name="workflows",
            reconciler=reconciler,
            for_kind=WORKFLOW,
            event_filter=reconciler.workflow_event_matters,
            watches=[
                WatchSource(
                    "v1/Pod", owner_mapper(WORKFLOW), event_filter=reconciler.pod_event_matters
                )
            ],
        )
        reconciler.enqueue = controller.enqueue
        self.reconciler = reconciler
        platform.manager.add(controller)
        platform.manager.add(
            Controller(
                name="cron-workflows",
                reconciler=CronReconciler(platform.store),
                for_kind=CRON_WORKFLOW,
            )
        )
        runner = RayPodRunner(platform.store, data_dir, config.ray_address)
        self.ray_runner = runner
        platform.manager.add(
            Controller(
                name="workflow-ray-steps",
                reconciler=runner,
                for_kind=POD,
                event_filter=RayPodRunner.is_ray_pod,
            )
        )

        if config.executor == "simulated":
            steps = SimulatedStepRunner(platform.store)
            platform.manager.add(
                Controller(
                    name="workflow-simulated-steps",
                    reconciler=steps,
                    for_kind=POD,
                    event_filter=SimulatedStepRunner.is_simulated_pod,
                )
            )

            async def add_node() -> None:
                register_simulated_node(platform.store)

            platform.on_start(add_node)

        async def stop_ray() -> None:
            runner.shutdown()

        platform.on_stop(stop_ray)
        platform.add_admission(WORKFLOW, accept_as_running)
        platform.add_router(build_router(platform.store, data_dir, reconciler.stats))

        async def sweep() -> None:
            reconciler.sweep_files()

        platform.on_start(sweep)


extension = WorkflowsExtension()
