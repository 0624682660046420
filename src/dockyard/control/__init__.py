"""Dockyard control layer: the controller runtime (watch → work queue → reconcile) that
every feature's controllers run on, and the injectable clock."""

from dockyard.control.clock import Clock, SystemClock
from dockyard.control.extensions import AdmissionHook, Extension, Platform
from dockyard.control.placement import Placement, Unplaceable
from dockyard.control.runtime import (
    Controller,
    Manager,
    ObjectKey,
    Reconciler,
    Result,
    WatchSource,
    key_of,
    owner_mapper,
)
from dockyard.control.workqueue import WorkQueue

__all__ = [
    "AdmissionHook",
    "Clock",
    "Controller",
    "Extension",
    "Manager",
    "ObjectKey",
    "Placement",
    "Platform",
    "Reconciler",
    "Result",
    "SystemClock",
    "Unplaceable",
    "WatchSource",
    "WorkQueue",
    "key_of",
    "owner_mapper",
]
