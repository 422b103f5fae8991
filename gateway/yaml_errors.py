"""Point a validation error at the YAML line it concerns, so an integrator can fix the file."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["line_of"]


def line_of(document: str, location: tuple[int | str, ...]) -> int | None:
    """1-based line of the node at ``location`` (keys and list indexes), or of its nearest parent."""
    try:
        node: Any = yaml.compose(document)
    except yaml.YAMLError:
        return None
    line = int(node.start_mark.line) + 1 if node is not None else None
    for key in location:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = int(node.start_mark.line) + 1
    return line
