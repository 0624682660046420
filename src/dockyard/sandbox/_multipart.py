"""Parsing ``multipart/form-data`` uploads with the standard library (the files API's
upload body), without pulling in a form-parsing dependency."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


def file_parts(content_type: str, body: bytes, field: str = "file") -> list[tuple[str, bytes]]:
    """(filename, content) of every part named `field`; raises ValueError when the body is
    not multipart."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("body is not multipart/form-data")
    parts: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        assert isinstance(part, Message)
        if part.get_param("name", header="content-disposition") != field:
            continue
        payload = part.get_payload(decode=True)
        filename = part.get_filename() or ""
        parts.append((filename, payload if isinstance(payload, bytes) else b""))
    return parts
