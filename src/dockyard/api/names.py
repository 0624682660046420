"""Validation of object names, label keys and label values with Kubernetes rules."""

from __future__ import annotations

import re

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL}$")
DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def dns1123_subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a valid object name (DNS-1123 subdomain), or None if it is."""
    if not value:
        return "must not be empty"
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not DNS1123_SUBDOMAIN_RE.match(value):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'my-name' or 'example.com')"
        )
    return None


def dns1123_label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label (namespaces, container names), or None."""
    if not value:
        return "must not be empty"
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not DNS1123_LABEL_RE.match(value):
        return (
            "must consist of lower case alphanumeric characters or '-', and must start and "
            "end with an alphanumeric character (e.g. 'my-name')"
        )
    return None


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation key (optional DNS prefix + name)."""
    prefix, _, name = key.rpartition("/")
    if prefix:
        problem = dns1123_subdomain_problem(prefix)
        if problem:
            return f"prefix {problem}"
    if not name or len(name) > 63 or not _LABEL_NAME_RE.match(name):
        return (
            "name part must be 1-63 characters of alphanumerics, '-', '_' or '.', starting "
            "and ending with an alphanumeric character"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        return (
            "must be 63 characters or less, empty or alphanumerics, '-', '_' or '.' starting "
            "and ending with an alphanumeric character"
        )
    return None
