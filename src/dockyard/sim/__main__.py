"""``python -m dockyard.sim``: the ``dockyard sim`` commands without the main CLI."""

from dockyard.sim.cli import app

app()
