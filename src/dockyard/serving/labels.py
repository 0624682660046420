"""Label and annotation names the serving area puts on Pods, in one place.

Serving layer. RoleBasedGroup's own labels follow the RBG project; the ``serving.dockyard.dev``
ones tell the gateway where an engine listens, what it does and whether it is draining.
"""

GROUP_LABEL = "rolebasedgroup.workloads.x-k8s.io/name"
ROLE_LABEL = "rolebasedgroup.workloads.x-k8s.io/role"
INDEX_LABEL = "rolebasedgroup.workloads.x-k8s.io/role-index"
REVISION_LABEL = "rolebasedgroup.workloads.x-k8s.io/revision"
ENGINE_ROLE_LABEL = "serving.dockyard.dev/engine-role"
PORT_ANNOTATION = "serving.dockyard.dev/port"
DRAINING_ANNOTATION = "serving.dockyard.dev/draining-since"
