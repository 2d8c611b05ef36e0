"""Find the line of a field in YAML text, so errors can say "file:line: memory[1].bandwidth".

``yaml.safe_load`` forgets where values came from; ``yaml.compose`` keeps marks on every node.
We walk the node tree along a field path and report the line of the deepest key found
(the key itself when it exists, else the start of the mapping that lacks it).
"""

import yaml


def field_line(text, parts):
    """1-based line of the field at ``parts`` (keys and list indices) in YAML ``text``, or None."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def field_name(parts):
    """Readable path: ("memory", 1, "bandwidth") -> "memory[1].bandwidth"."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"
