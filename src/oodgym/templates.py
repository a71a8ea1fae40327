"""Prompt templates as data: ``str.format`` syntax with named fields only, never code.

Each family renders its prompt from a named template in its own registry
(``cardenvs.prompts.TEMPLATES``, ``navenvs.instructions.TEMPLATES``), selected
with ``gym.make(..., prompt=...)``:

* a registered name (``"default"``, ``"sectioned"``, or one an author registered);
* a path to a template file: a ``.json`` file ``{"template": "...", "fields":
  {...}, "description": "..."}``, or any other file whose whole text is the
  template;
* an inline mapping ``{"template": "...", "fields": {...}}`` (plain data, so
  ``EnvSpec.to_json`` keeps working);
* a :class:`PromptTemplate`.

A template uses ``{field}`` for the family's named fields (the reference
code's names, so its template text can be pasted into a file and used as is)
and ``{{``/``}}`` for literal braces. Positional fields (``{}``, ``{0}``),
attribute and index lookups (``{cards.__class__}``, ``{cards[0]}``),
conversions (``{cards!r}``) and format specs (``{cards:>10}``) are refused
when the template is resolved, as is any field the family does not define:
the error is a ``ValueError`` naming the field. Rendering never calls
:meth:`str.format`; it substitutes the parsed pieces one by one.

``fields`` overrides the text of a field, e.g. the face-card sentence:
``{"template": "...", "fields": {"face_card_msg": "Face cards are worth 10."}}``.
An override may itself use the family's named fields.

Example (``...`` elides the rest of the message):
    >>> template = resolve_template(
    ...     {"template": "Make {target_number} from {cards}."}, Registry_of_examples(),
    ...     {"cards", "target_number"},
    ... )
    >>> template.render({"cards": "[3, 3, 8, 8]", "target_number": "24"})
    'Make 24 from [3, 3, 8, 8].'
    >>> resolve_template(  # doctest: +ELLIPSIS
    ...     {"template": "{cards.__class__}"}, Registry_of_examples(), {"cards"}
    ... )
    Traceback (most recent call last):
    ...
    ValueError: prompt: field '{cards.__class__}' uses an attribute or index lookup; ...
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from oodgym.registry import Registry

__all__ = [
    "MAX_TEMPLATE_CHARS",
    "PromptTemplate",
    "Registry_of_examples",
    "load_template_file",
    "parse_template",
    "resolve_template",
    "substitute",
]

#: Longest template text (and longest field override), in characters. Prompts are
#: a few hundred to a few thousand characters; the cap keeps every rendered
#: prompt inside the environments' observation spaces.
MAX_TEMPLATE_CHARS: Final = 8192
#: Largest template file read (bytes).
_MAX_FILE_BYTES: Final = 4 * MAX_TEMPLATE_CHARS + 4096

Piece = tuple[str, str | None]


def parse_template(text: str, allowed: Collection[str], *, argument: str = "prompt") -> list[Piece]:
    """Split a template into ``(literal, field or None)`` pieces, validating every field.

    Raises:
        ValueError: naming the offending field (unknown, positional, lookup,
            conversion or format spec) or the malformed braces.
    """
    if not isinstance(text, str):
        raise ValueError(f"{argument}: a template must be text, got {type(text).__name__}")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValueError(
            f"{argument}: the template has {len(text)} characters; the limit is "
            f"{MAX_TEMPLATE_CHARS}"
        )
    names = ", ".join(sorted(allowed)) or "(none)"
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ValueError(
            f"{argument}: malformed template ({err}); write literal braces as {{{{ and }}}}"
        ) from None
    pieces: list[Piece] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        shown = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if not name or name.isdigit():
            raise ValueError(
                f"{argument}: positional field {shown!r}; templates may only name fields "
                f"(allowed: {names})"
            )
        if any(c in name for c in ".["):
            raise ValueError(
                f"{argument}: field {shown!r} uses an attribute or index lookup; templates may "
                f"only name fields (allowed: {names})"
            )
        if conversion or spec:
            raise ValueError(
                f"{argument}: field {shown!r} has a conversion or format spec; templates may "
                f"only name fields (allowed: {names})"
            )
        if name not in allowed:
            raise ValueError(f"{argument}: unknown field {{{name}}}; allowed: {names}")
        pieces.append((literal, name))
    return pieces


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template of one family.

    Attributes:
        name: A short name (the registered name, the file name, or ``"inline"``).
        text: The template (``str.format`` syntax, named fields only).
        fields: Overrides of field texts (each may use the named fields).
        description: One line for listings.
    """

    name: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def checked(self, allowed: Collection[str], *, argument: str = "prompt") -> PromptTemplate:
        """This template, after checking it against the family's fields (``ValueError`` if not)."""
        parse_template(self.text, allowed, argument=argument)
        if not isinstance(self.fields, Mapping):
            raise ValueError(f"{argument}: 'fields' must be a mapping of field name to text")
        for key, value in self.fields.items():
            if key not in allowed:
                names = ", ".join(sorted(allowed))
                raise ValueError(
                    f"{argument}: 'fields' overrides unknown field {key!r}; allowed: {names}"
                )
            parse_template(value, allowed, argument=f"{argument}: fields[{key!r}]")
        return self

    def chars(self) -> str:
        """Every character of the template and its overrides (for observation charsets)."""
        return self.text + "".join(self.fields.values())

    def render(self, values: Mapping[str, str]) -> str:
        """The prompt: overrides first (rendered with ``values``), then the template."""
        merged = dict(values)
        for key, value in self.fields.items():
            merged[key] = substitute(parse_template(value, values.keys() | {key}), values)
        return substitute(parse_template(self.text, merged.keys()), merged)


def substitute(pieces: Sequence[Piece], values: Mapping[str, str]) -> str:
    """Join parsed pieces (:func:`parse_template`) with the values of their fields."""
    out: list[str] = []
    for literal, name in pieces:
        out.append(literal)
        if name is not None:
            out.append(str(values[name]))
    return "".join(out)


def _from_mapping(spec: Mapping[str, Any], name: str, argument: str) -> PromptTemplate:
    unknown = sorted(set(spec) - {"template", "fields", "description", "name"})
    if unknown:
        raise ValueError(
            f"{argument}: unknown keys {unknown}; "
            "a template has 'template', 'fields' and 'description'"
        )
    text = spec.get("template")
    if not isinstance(text, str):
        raise ValueError(f"{argument}: 'template' must be a string")
    fields = spec.get("fields") or {}
    if not isinstance(fields, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        raise ValueError(f"{argument}: 'fields' must map field names to strings")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{argument}: 'description' must be a string")
    label = spec.get("name", name)
    return PromptTemplate(str(label), text, dict(fields), description)


def load_template_file(path: str | os.PathLike[str], *, argument: str = "prompt") -> PromptTemplate:
    """Read a template file (``.json`` with ``template``/``fields``, else plain text).

    Raises:
        ValueError: naming the file, if it cannot be read, is too large, is not
            UTF-8 or (``.json``) is not a template object.
    """
    file = Path(path)
    label = f"{argument}: template file {os.fspath(path)!r}"
    try:
        if not file.is_file():
            raise ValueError(f"{label} is not a regular file")
        with open(file, "rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{label} cannot be read ({err.strerror or err})") from None
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError(f"{label} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{label} is not UTF-8 text") from None
    if file.suffix.lower() == ".json":
        try:
            spec = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"{label} is not valid JSON ({err})") from None
        if not isinstance(spec, Mapping):
            raise ValueError(f"{label} must hold an object {{'template': ..., 'fields': ...}}")
        return _from_mapping(spec, file.stem, label)
    return PromptTemplate(file.stem, text)


def resolve_template(
    spec: object,
    registry: Registry[PromptTemplate],
    allowed: Collection[str],
    *,
    argument: str = "prompt",
) -> PromptTemplate:
    """Turn a ``prompt=`` argument into a checked template.

    Args:
        spec: ``None`` (the registry's ``"default"``), a registered name, a path to
            a template file, an inline mapping ``{"template": ..., "fields": ...}``
            or a :class:`PromptTemplate`.
        registry: The family's templates.
        allowed: The family's field names.
        argument: The constructor argument, named in errors.

    Raises:
        ValueError: unknown name or file, or a template that names an unknown
            field or uses anything but named fields.
    """
    if spec is None:
        spec = "default"
    if isinstance(spec, PromptTemplate):
        template = spec
    elif isinstance(spec, Mapping):
        template = _from_mapping(spec, "inline", argument)
    elif isinstance(spec, str):
        if spec in registry:
            template = registry.resolve(spec, argument=argument)
        elif os.path.exists(spec) or spec.endswith((".json", ".txt", ".tmpl")) or os.sep in spec:
            template = load_template_file(spec, argument=argument)
        else:
            known = ", ".join(repr(n) for n in registry.names())
            raise ValueError(
                f"{argument}: unknown prompt template {spec!r}; registered: {known} "
                "(or a path to a template file)"
            )
    else:
        raise ValueError(
            f"{argument} must be a template name, a path, a mapping {{'template': ...}} or a "
            f"PromptTemplate; got {type(spec).__name__}"
        )
    return template.checked(allowed, argument=argument)


def Registry_of_examples() -> Registry[PromptTemplate]:  # noqa: N802 - a doctest helper
    """An empty template registry (for the examples)."""
    return Registry[PromptTemplate]("prompt template", value_type=PromptTemplate)
