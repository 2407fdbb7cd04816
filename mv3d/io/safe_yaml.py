"""YAML from users' files, read safely: no tags that build objects, bounded size and expansion.

``yaml.safe_load`` already refuses ``!!python`` tags, but an alias bomb (anchors that refer
to anchors, "billion laughs") loads into a small graph of shared lists that becomes billions
of items as soon as anything walks it (a fingerprint, an error message). :func:`load_yaml`
refuses files over ``max_bytes`` and documents whose aliases expand to more than
``max_nodes`` nodes, counting without expanding.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from mv3d.errors import InputError

#: A config, session metadata or session YAML is a few kB; these bounds leave room for big ones.
MAX_BYTES = 2_000_000
MAX_NODES = 200_000


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """Number of nodes ``node`` stands for once every alias is expanded (shared nodes counted
    each time they are referred to, computed once each)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > 200:
        raise RecursionError
    memo[key] = 1  # a node that refers to itself counts once (safe_load refuses such recursion anyway)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
                       for k, v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def load_yaml(source: str | Path, text: str | None = None, max_bytes: int = MAX_BYTES,
              max_nodes: int = MAX_NODES):
    """The content of a YAML file (or of ``text``, named ``source`` in errors).

    Raises InputError naming the source when it cannot be read, is not YAML, is larger than
    ``max_bytes`` or expands to more than ``max_nodes`` nodes.
    """
    if text is None:
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise InputError(f"{path} is {size} bytes; a YAML file for mv3d is at most {max_bytes} bytes. "
                                 f"Is it the right file?")
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"{path} cannot be read: {exc.strerror}") from exc
    elif len(text) > max_bytes:
        raise InputError(f"{source}: the YAML text is {len(text)} characters; at most {max_bytes} are accepted")
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > max_nodes:
            raise InputError(f"{source}: its anchors and aliases expand to more than {max_nodes} values "
                             f"(a YAML 'alias bomb'?); write the values out instead of nesting aliases")
        return loader.construct_document(node)
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"{source}: the YAML nests deeper than mv3d accepts (200 levels)") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"{source}: not valid YAML{at}: {str(problem)[:120]}") from None
    finally:
        if loader is not None:
            loader.dispose()
