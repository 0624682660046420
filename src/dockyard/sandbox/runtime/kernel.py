"""The code interpreter's execution context: one Python process per context, started by the
in-sandbox daemon on first use (command-only sandboxes never pay for it).

Runs inside the sandbox with the host's /usr/bin/python3; standard library only, never
imports dockyard. Protocol on two inherited pipe fds (argv[1] reads requests, argv[2] writes
events), one JSON object per line, so user code keeps its own stdin/stdout:

    {"op": "execute", "code": str, "env_vars": {}}
        -> {"type": "stdout"|"stderr", "text"}*  as the code prints
        -> {"type": "result", "text", "is_main_result": true}  value of a final expression
        -> {"type": "error", "name", "value", "traceback"}  uncaught exception
        -> {"type": "done", "execution_count": n}
    {"op": "save", "path": str}   pickles every global it can into `path`
        -> {"type": "saved", "saved": [names], "unsaved": [names]}
    {"op": "load", "path": str}   restores what `save` wrote (modules are re-imported)
        -> {"type": "loaded", "names": [names]}
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import os
import pickle
import sys
import traceback
import types

# typing is for the type checker only: importing it costs every sandbox's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Events:
    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", buffering=1, encoding="utf-8")

    def send(self, event: dict[str, Any]) -> None:
        self._out.write(json.dumps(event) + "\n")
        self._out.flush()


class _Stream(io.TextIOBase):
    """sys.stdout/sys.stderr of user code: complete lines become events as they are
    written (in order with results and errors); the rest on flush."""

    def __init__(self, events: _Events, name: str) -> None:
        self._events = events
        self._name = name
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._events.send({"type": self._name, "text": head + "\n"})
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._events.send({"type": self._name, "text": self._pending})
            self._pending = ""


class Context:
    def __init__(self, events: _Events) -> None:
        self.events = events
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.count = 0

    def execute(self, code: str, env_vars: dict[str, str]) -> None:
        self.count += 1
        saved_env = {k: os.environ.get(k) for k in env_vars}
        os.environ.update(env_vars)
        old = sys.stdout, sys.stderr
        out, err = _Stream(self.events, "stdout"), _Stream(self.events, "stderr")
        sys.stdout, sys.stderr = out, err
        try:
            tree = ast.parse(code, "<cell>", "exec")
            last: ast.expr | None = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = tree.body.pop().value  # type: ignore[attr-defined]
            exec(compile(tree, "<cell>", "exec"), self.namespace)
            out.flush()
            err.flush()
            if last is not None:
                value = eval(compile(ast.Expression(last), "<cell>", "eval"), self.namespace)
                if value is not None:
                    self.events.send(
                        {"type": "result", "text": repr(value), "is_main_result": True}
                    )
        except BaseException as exc:  # user code may raise anything, SystemExit included
            out.flush()
            err.flush()
            self.events.send(
                {
                    "type": "error",
                    "name": type(exc).__name__,
                    "value": str(exc),
                    "traceback": "".join(traceback.format_exception(exc)),
                }
            )
        finally:
            out.flush()
            err.flush()
            sys.stdout, sys.stderr = old
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.events.send({"type": "done", "execution_count": self.count})

    def save(self, path: str) -> None:
        saved: dict[str, bytes] = {}
        modules: dict[str, str] = {}
        unsaved: list[str] = []
        for name, value in self.namespace.items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if isinstance(value, types.ModuleType):
                modules[name] = value.__name__
                continue
            try:
                saved[name] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                unsaved.append(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as out:
            pickle.dump({"count": self.count, "modules": modules, "values": saved}, out, protocol=5)
        os.replace(tmp, path)
        self.events.send(
            {"type": "saved", "saved": sorted([*saved, *modules]), "unsaved": sorted(unsaved)}
        )

    def load(self, path: str) -> None:
        with open(path, "rb") as source:
            state = pickle.load(source)
        names: list[str] = []
        for name, module in state["modules"].items():
            try:
                self.namespace[name] = importlib.import_module(module)
                names.append(name)
            except ImportError:
                pass
        for name, blob in state["values"].items():
            try:
                self.namespace[name] = pickle.loads(blob)
                names.append(name)
            except Exception:
                pass
        self.count = int(state["count"])
        self.events.send({"type": "loaded", "names": sorted(names)})


def main() -> None:
    requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    context = Context(_Events(int(sys.argv[2])))
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        if op == "execute":
            context.execute(request["code"], dict(request.get("env_vars") or {}))
        elif op == "save":
            context.save(request["path"])
        elif op == "load":
            context.load(request["path"])


if __name__ == "__main__":
    main()
