"""The ``dockyard`` commands, one module per command (or per close pair of commands).

Each module exposes plain functions that :mod:`dockyard.cli._app` registers; they read
global options through :func:`dockyard.cli._context.state_of` and leave error reporting
to the app.
"""
