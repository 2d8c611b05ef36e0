"""Reading YAML descriptions strictly, and errors that say "file:line: memory[1].bandwidth: ...".

Descriptions (hardware, formats) are typed by hand and may come from anyone, so reading one is
defensive: ``read_document`` caps the size, names the file on a bad encoding, rejects duplicate
keys (YAML would silently keep the last), refuses alias bombs (a few hundred bytes of ``&a``/``*a``
that expand to billions of nodes) and over-large integers, and reports every problem as a
``SourceError`` (a ValueError) carrying the field path, the file and the line.

``yaml.safe_load`` forgets where values came from; ``yaml.compose`` keeps marks on every node.
``field_line`` walks the node tree along a field path and reports the line of the deepest key
found (the key itself when it exists, else the start of the mapping that lacks it).
"""

import os

import yaml

MAX_BYTES = 1 << 20        # a description is a few KiB; a larger file is a mistake or an attack
MAX_NODES = 100_000        # nodes after expanding aliases; ~100x a large description
MAX_SHOWN = 80             # characters of a value quoted in an error message


def clip(text, limit=MAX_SHOWN):
    """``text`` cut to ``limit`` characters, "…" marking the cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown(value, limit=MAX_SHOWN):
    """``repr(value)`` cut to ``limit`` characters, for error messages.

    A value read from YAML can be huge (a long string, an aliased structure that expands
    exponentially, a 400-digit integer): a message must never embed it whole, and building
    the text must not cost more than the message shows.
    """
    return clip(_bounded_repr(value, limit), limit)


def _bounded_repr(value, limit, depth=0):
    """repr of ``value``, but nested items only until about ``limit`` characters are built."""
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        if depth > limit // 4:               # deeper than the message could show anyway
            return "…"
        brackets = {list: "[]", tuple: "()", dict: "{}"}.get(type(value), "{}")
        pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        items, size = [], 0
        for key, item in pairs:
            text = _bounded_repr(item, limit, depth + 1)
            if isinstance(value, dict):
                text = f"{_bounded_repr(key, limit, depth + 1)}: {text}"
            items.append(text)
            size += len(text) + 2
            if size > limit:
                break
        return brackets[0] + ", ".join(items) + brackets[1]
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    if isinstance(value, (str, bytes)) and len(value) > limit:
        value = value[:limit]
    return repr(value)


def field_name(parts):
    """Readable path: ("memory", 1, "bandwidth") -> "memory[1].bandwidth"."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            part = clip(part) if isinstance(part, str) else shown(part)
            text += f".{part}" if text else part
    return text or "(document)"


class SourceError(ValueError):
    """A bad description: ``field`` is the path (``memory[1].bandwidth``), ``file``/``line``
    where known. str() reads "file:line: field: message". Subclasses keep this constructor."""

    def __init__(self, parts, message, file=None, line=None):
        self.parts, self.message, self.file, self.line = tuple(parts), message, file, line
        self.field = field_name(self.parts)
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line else f"{file}: "
        elif line:
            where = f"line {line}: "
        super().__init__(f"{where}{self.field}: {message}")

    def __reduce__(self):              # picklable across process pools
        return type(self), (self.parts, self.message, self.file, self.line)

    def located(self, text, file=None):
        """The same error with the line of its field in ``text`` (unless already known) and
        the file name."""
        line = self.line if self.line is not None else field_line(text, self.parts)
        return type(self)(self.parts, self.message, file, line)


def field_line(text, parts):
    """1-based line of the field at ``parts`` (keys and list indices) in YAML ``text``, or None."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part or (isinstance(key, yaml.ScalarNode)
                                         and not isinstance(part, str) and key.value == str(part)):
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


# ---------------------------------------------------------------- reading a document

class _Problem(Exception):
    """Raised inside the loader at a node; ``read_document`` turns it into a SourceError."""

    def __init__(self, node, message, parts=None):
        super().__init__(message)
        self.node, self.message, self.parts = node, message, parts


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that reports an integer too large to convert at its node (Python's int()
    refuses more than 4300 digits with a bare ValueError)."""

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise _Problem(node, f"integer of {len(node.value)} characters is too large "
                                 "to be a quantity") from None


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _walk(root, paths):
    """Fill ``paths`` with the field path of every node (the first path reaching it); raise
    ``_Problem`` on a key given twice in a mapping, an alias inside itself, nesting over 100
    levels, or more than MAX_NODES nodes once aliases are expanded (each node is sized once, so
    this is linear in the text even for an alias bomb)."""
    sizes, active = {}, set()

    def size(node, parts, depth):
        key = id(node)
        paths.setdefault(key, parts)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Problem(node, "an alias refers to the node that contains it (a recursive "
                                 "structure); descriptions must be trees")
        if depth > 100:
            raise _Problem(node, "nested more than 100 levels deep")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                total += size(child, (*parts, i), depth + 1)
        elif isinstance(node, yaml.MappingNode):
            _check_keys(node, parts)
            for key_node, child in node.value:
                label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                total += size(key_node, parts, depth + 1)
                total += size(child, (*parts, label), depth + 1)
        if total > MAX_NODES:
            raise _Problem(node, f"expands to more than {MAX_NODES} nodes through aliases "
                                 "(&anchor/*alias); a description needs far fewer")
        active.discard(key)
        sizes[key] = total
        return total

    size(root, (), 0)


def _check_keys(node, parts):
    """A mapping may give each key once: YAML loaders would silently keep the last value."""
    first = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = (key_node.tag, key_node.value)
        if key in first:
            raise _Problem(key_node, f"duplicate key {shown(key_node.value)} (first given "
                                     f"on line {first[key]}); give each key once",
                           (*parts, key_node.value))
        first[key] = key_node.start_mark.line + 1


def read_document(path_or_text, error_cls=SourceError, what="YAML"):
    """(data, text, file) from a YAML file path (str or os.PathLike) or YAML text, strictly.

    ``file`` is None for text. Any problem (too large, not UTF-8, not valid YAML, a duplicate
    key, an alias bomb, a recursive alias, an integer too large) raises ``error_cls`` naming
    the file, the line and, where it has one, the field. ``what`` names the document kind in
    messages ("hardware description").
    """
    text, file = _read_source(path_or_text, error_cls, what)
    loader = _StrictLoader(text)
    paths = {}
    try:
        node = loader.get_single_node()
        if node is None:
            return None, text, file
        _walk(node, paths)
        data = loader.construct_document(node)
    except _Problem as exc:
        line = exc.node.start_mark.line + 1
        parts = exc.parts if exc.parts is not None else paths.get(id(exc.node), ())
        raise error_cls(parts, exc.message, file, line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        raise error_cls((), f"not valid YAML: {_yaml_problem(exc)}", file,
                        mark.line + 1 if mark else None) from None
    except RecursionError:
        raise error_cls((), "not valid YAML: nested too deeply", file) from None
    finally:
        loader.dispose()
    return data, text, file


def _yaml_problem(exc):
    """One line from a YAMLError: its problem and context, without the quoted snippet."""
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [p for p in (exc.problem, exc.context) if p]
        return clip(" (".join(parts) + (")" if len(parts) > 1 else ""), 200)
    return clip(str(exc), 200)


def _read_source(path_or_text, error_cls, what):
    """(text, file): a path (os.PathLike, or a one-line str naming a file or ending in .yaml/.yml)
    is read as UTF-8, at most MAX_BYTES; any other str is the text itself."""
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text
            and (path_or_text.endswith((".yaml", ".yml")) or os.path.isfile(path_or_text))):
        path = os.fspath(path_or_text)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise error_cls((), f"cannot read the {what}: {exc.strerror or exc}", path) from exc
        if len(raw) > MAX_BYTES:
            size = _file_size(path)
            raise error_cls((), f"{size} exceeds the {MAX_BYTES} B limit for a {what}; "
                                "is this the right file?", path)
        try:
            return raw.decode("utf-8"), path
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise error_cls((), f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                f"{exc.start}); save the {what} as UTF-8", path, line) from None
    if not isinstance(path_or_text, str):
        raise TypeError(f"expected a {what} path or text, got {type(path_or_text).__name__}")
    if len(path_or_text) > MAX_BYTES:
        raise error_cls((), f"{len(path_or_text)} characters of text exceed the "
                            f"{MAX_BYTES}-character limit for a {what}")
    return path_or_text, None


def _file_size(path):
    try:
        return f"{os.path.getsize(path)} B"
    except OSError:
        return "the file"
