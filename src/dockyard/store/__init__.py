"""Dockyard store layer: durable objects in embedded SQLite, a global resourceVersion, and
watches fed from an event log. It sits on the api layer and below everything else."""

from dockyard.store.objects import CLUSTER_SCOPE, ObjectStore, format_time, utc_now
from dockyard.store.watch import StoreEvent, Watch, WatchFilter

__all__ = [
    "CLUSTER_SCOPE",
    "ObjectStore",
    "StoreEvent",
    "Watch",
    "WatchFilter",
    "format_time",
    "utc_now",
]
