"""Prompt templates: named prompts with `{field}` slots, filled per directive.

A template lives in `mkdocs.yml` (`templates:`) and may carry defaults for any clip option, its
own `style`, and a caption or alt text with fields. A directive names it with `template=NAME`
and gives each field as an option (`{template=product name="wireless earbuds" color=black}`).
Filling is plain substitution, one pass, never evaluation: a value's own braces stay text, and
`{{` / `}}` write a literal brace. Only the filled prompt reaches the spec, so the cache key is
the text the model gets: editing a template regenerates exactly the clips whose prompt changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mkdocs_wan.page.spec import FIELDS, KNOWN_OPTIONS, SpecError, check_text

MAX_TEMPLATES = 256
MAX_FIELD_CHARS = 500  # one field's value; the filled prompt has the prompt's own limit
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SLOT = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,63}")
#: What a template may set besides its prompt: clip options, its own style, caption and alt.
TEMPLATE_KEYS = frozenset(FIELDS) | {"prompt", "style", "caption", "alt"}
FILLED = ("prompt", "caption", "alt")  # the template texts that take fields


@dataclass(frozen=True)
class Template:
    """One named template: its texts with slots, the fields they use, and its option defaults."""

    name: str
    texts: dict[str, str]  # prompt (always), caption, alt: with `{field}` slots
    fields: tuple[str, ...]  # in order of first use
    defaults: dict[str, Any]  # raw clip options (checked at config time), style included

    def fill(self, values: Mapping[str, str]) -> dict[str, str]:
        """The texts with every slot replaced by its value, in one pass (values are never re-read)."""

        def slot(match: re.Match[str]) -> str:
            token = match[0]
            return "{" if token == "{{" else "}" if token == "}}" else values[match[1]]

        return {name: _SLOT.sub(slot, text) for name, text in self.texts.items()}


def _slots(name: str, key: str, text: str) -> list[str]:
    found: list[str] = []
    for match in _SLOT.finditer(text):
        token = match[0]
        if token in ("{{", "}}"):
            continue
        field = match[1]
        if field is None or not _FIELD.fullmatch(field.strip()) or field != field.strip():
            shown = token if field is None else "{" + field[:40] + "}"
            raise SpecError(
                f"template {name!r}: {key} has {shown!r}; a field is written {{name}} (lower-case letters, digits, "
                "_), and a literal brace as {{ or }}"
            )
        if field in KNOWN_OPTIONS or field in ("template", "data", "caption_column"):
            raise SpecError(f"template {name!r}: the field {{{field}}} has an option's name; rename the field")
        if field not in found:
            found.append(field)
    return found


def parse_templates(value: Any) -> dict[str, Template]:
    """`templates:` from mkdocs.yml: {name: prompt text, or {prompt: …, any clip option, style,
    caption, alt}}. Every value is checked here, before any page is read."""
    if not isinstance(value, dict):
        raise SpecError("templates must be a mapping of template names to a prompt or to {prompt: …, options}")
    if len(value) > MAX_TEMPLATES:
        raise SpecError(f"at most {MAX_TEMPLATES} templates, got {len(value)}")
    templates: dict[str, Template] = {}
    for name, body in value.items():
        if not isinstance(name, str):
            raise SpecError(
                f"template names are text: quote {str(name)[:40]!r} in mkdocs.yml (YAML reads it as a number)"
            )
        if not _NAME.fullmatch(name):
            raise SpecError(f"template names are letters, digits, - and _ (up to 64), got {name[:40]!r}")
        body = {"prompt": body} if isinstance(body, str) else body
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            raise SpecError(f"template {name!r} needs a prompt: give it as text, or as a mapping with prompt:")
        for key in body:
            if key not in TEMPLATE_KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), sorted(TEMPLATE_KEYS), n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                known = ", ".join(sorted(TEMPLATE_KEYS))
                raise SpecError(f"template {name!r}: unknown key {str(key)[:40]!r} ({hint}known: {known})")
        texts: dict[str, str] = {}
        fields: list[str] = []
        for key in FILLED:
            if key in body:
                if not isinstance(body[key], str):
                    raise SpecError(f"template {name!r}: {key} must be text")
                texts[key] = check_text(f"template {name!r} {key}", " ".join(body[key].split()))
                fields += [f for f in _slots(name, key, texts[key]) if f not in fields]
        defaults = {key: v for key, v in body.items() if key not in FILLED}
        for key, raw in defaults.items():
            try:
                FIELDS[key](raw) if key in FIELDS else check_text("style", _str(raw, "style"))
            except SpecError as err:
                raise SpecError(f"template {name!r}: {err}") from None
        templates[name] = Template(name, texts, tuple(fields), defaults)
    return templates


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{what} must be text, got {str(value)[:40]!r}")
    return value


def lookup(name: Any, templates: Mapping[str, Template]) -> Template:
    """The template `name`, or the writer's message (with a did-you-mean)."""
    if isinstance(name, str) and name in templates:
        return templates[name]
    import difflib

    shown = str(name)[:64]
    close = difflib.get_close_matches(shown, sorted(templates), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    known = ", ".join(sorted(templates)[:20]) or "none: add `templates:` to the wan options in mkdocs.yml"
    raise SpecError(f"unknown template {shown!r} ({hint}known: {known})", "template")


def apply_template(options: Mapping[str, Any], templates: Mapping[str, Template]) -> tuple[dict[str, Any], str | None]:
    """A directive's options with its template filled in: (options with the prompt, caption and
    alt written and the template's defaults under the directive's own, the template's style or
    None). Options without `template` come back as they are."""
    if "template" not in options:
        return dict(options), None
    template = lookup(options["template"], templates)
    name = template.name
    if str(options.get("prompt", "")).strip():
        raise SpecError(f"template {name!r} writes the prompt: give only its fields, not prompt text")
    values: dict[str, str] = {}
    own: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("template", "prompt"):
            continue
        if key in KNOWN_OPTIONS:
            own[key] = value
            continue
        if key not in template.fields:
            import difflib

            close = difflib.get_close_matches(str(key), template.fields, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            listed = ", ".join(template.fields) or "none"
            raise SpecError(f"template {name!r} has no field {str(key)[:40]!r} ({hint}its fields: {listed})", str(key))
        values[key] = _field(name, key, value)
    missing = [field for field in template.fields if field not in values]
    if missing:
        raise SpecError(
            f"template {name!r} needs the field{'s' if len(missing) > 1 else ''} {', '.join(missing)}: add "
            + " ".join(f'{field}="…"' for field in missing),
            "template",
        )
    filled = template.fill(values)
    merged = {k: v for k, v in template.defaults.items() if k != "style"} | own
    for key in ("caption", "alt"):
        if key in filled and key not in own:
            merged[key] = filled[key]
    merged["prompt"] = filled["prompt"]
    style = template.defaults.get("style")
    return merged, style


def _field(template: str, name: str, value: Any) -> str:
    """A field's value as text. YAML reads `1.10`, `010` or `12:30` as numbers that print
    otherwise (1.1, 8, 750): a number is refused with the fix, never silently rewritten."""
    if isinstance(value, (bool, int, float)):
        raise SpecError(
            f"template {template!r}: the field {name} is read as a YAML {type(value).__name__}, which would change how "
            f'it is written; quote it: {name}: "…"',
            name,
        )
    if not isinstance(value, str):
        kind = "nothing" if value is None else f"a {type(value).__name__}"
        raise SpecError(f"template {template!r}: the field {name} must be text, got {kind}", name)
    try:
        text = check_text(f"the field {name}", " ".join(value.split()), limit=MAX_FIELD_CHARS)
    except SpecError as err:
        raise SpecError(str(err), name) from None
    if not text:
        raise SpecError(f"template {template!r}: the field {name} is empty", name)
    return text
