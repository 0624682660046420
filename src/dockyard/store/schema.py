"""SQLite schema of the object store and the pragmas that make it durable.

``objects`` holds the current state of every object; ``events`` is the append-only log
whose integer primary key *is* the global, monotonic resourceVersion; ``owners`` indexes
ownerReferences so cascading deletes don't scan every object.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind_key   TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    uid        TEXT NOT NULL UNIQUE,
    rv         INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (kind_key, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    rv         INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    kind_key   TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (
    owner_uid  TEXT NOT NULL,
    child_uid  TEXT NOT NULL,
    PRIMARY KEY (owner_uid, child_uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owners_by_child ON owners (child_uid);
CREATE TABLE IF NOT EXISTS meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL
);
"""


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """Open the database in WAL mode.

    ``synchronous=NORMAL`` in WAL mode survives a crash of the process (SIGKILL) with no
    acknowledged write lost; ``FULL`` additionally survives power loss at the cost of one
    fsync per commit.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    return conn
