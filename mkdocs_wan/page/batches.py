"""Batches: one clip per row of a data file (CSV, JSON or YAML), each row filling a template.

A fenced block with `data: products.csv` and `template: product` becomes a gallery. The file is
found like a start picture — relative to the page, or to docs_dir with a leading `/`, and only
inside docs_dir (symlinks followed) — and is bounded before it is parsed: at most
`MAX_DATA_BYTES` and `MAX_ROWS` rows, each a flat record of short text values. Each row is its
own clip, keyed by its filled prompt, so editing one row regenerates that row's clip only.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath
from typing import Any

from mkdocs_wan.page.directives import DirectiveError, load_flat_yaml
from mkdocs_wan.page.spec import SpecError, check_text

MAX_ROWS = 200
MAX_DATA_BYTES = 1_000_000
MAX_COLUMNS = 64
FORMATS = {".csv": "CSV", ".json": "JSON", ".yml": "YAML", ".yaml": "YAML"}
#: Options only a batch block has: the data file, and the column its gallery's captions come from.
BATCH_OPTIONS = frozenset({"data", "caption_column"})


def read_rows(value: Any, page_src_uri: str, docs_dir: Path) -> tuple[str, list[Row]]:
    """The data file a batch names, as (its name for messages, its rows as {column: text})."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"data must name a .csv, .json or .yaml file, got {str(value)[:60]!r}", "data")
    text = check_text("data", value.strip(), limit=1_024)
    name = PurePosixPath(text).name
    kind = FORMATS.get(PurePosixPath(text).suffix.lower())
    if kind is None:
        raise SpecError(f"data {text!r} must be a .csv, .json, .yml or .yaml file", "data")
    relative = PurePosixPath(text.lstrip("/")) if text.startswith("/") else PurePosixPath(page_src_uri).parent / text
    root = docs_dir.resolve()
    try:
        path = (root / relative).resolve()
        inside = path.is_relative_to(root)
        found = inside and path.is_file()
        size = path.stat().st_size if found else 0
    except (OSError, RuntimeError) as err:  # a name too long, a loop of links
        raise SpecError(f"data {text!r} cannot be opened: {getattr(err, 'strerror', None) or err}", "data") from None
    if not inside:
        raise SpecError(f"data {text!r} resolves outside docs_dir; only files inside docs_dir can be used", "data")
    if not found:
        raise SpecError(f"data {text!r} is not a file in docs_dir (looked for {path.relative_to(root)})", "data")
    if size > MAX_DATA_BYTES:
        raise SpecError(f"data {text!r} is {size:,} bytes, over the limit of {MAX_DATA_BYTES:,}", "data")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DATA_BYTES + 1)
        source = raw[:MAX_DATA_BYTES].decode("utf-8-sig")
    except OSError as err:
        raise SpecError(f"data {text!r} cannot be read: {err.strerror or err}", "data") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{name} is not UTF-8 text (byte {err.start:,})", "data") from None
    if len(raw) > MAX_DATA_BYTES:
        raise SpecError(f"data {text!r} is over the limit of {MAX_DATA_BYTES:,} bytes", "data")
    records = _csv(name, source) if kind == "CSV" else _structured(name, source, kind)
    if not records:
        raise SpecError(f"{name} has no rows", "data")
    if len(records) > MAX_ROWS:
        raise SpecError(f"{name} has {len(records):,} rows, over the limit of {MAX_ROWS}; split it", "data")
    return name, [_row(name, number, record) for number, record in enumerate(records, start=1)]


def _csv(name: str, source: str) -> list[dict[str, Any]]:
    if "\0" in source:
        raise SpecError(f"{name} contains a NUL character", "data")
    reader = csv.reader(io.StringIO(source, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return []
        columns = [column.strip() for column in header]
        if not all(columns) or len(set(columns)) != len(columns):
            raise SpecError(f"{name}: the first line must name each column once (found {header[:8]!r})", "data")
        records: list[dict[str, Any]] = []
        start = reader.line_num + 1  # a quoted value may span lines: a row is named by its first
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(value.strip() for value in values):
                continue  # a blank line
            if len(values) != len(columns):  # this row is a note; the others go on
                count = f"{len(values)} value{'s' if len(values) != 1 else ''}"
                hint = '; a value with a comma needs quotes: "a, b"' if len(values) > len(columns) else ""
                problem = BadCell(f"{count} for {len(columns)} columns{hint}")
                records.append(Row(dict.fromkeys(columns, problem), f"line {line}"))
            else:
                records.append(Row(zip(columns, values, strict=True), f"line {line}"))
            if len(records) > MAX_ROWS:
                break
    except csv.Error as err:
        raise SpecError(f"{name} is not valid CSV: {err}", "data") from None
    return records


def _structured(name: str, source: str, kind: str) -> list[dict[str, Any]]:
    try:
        if kind == "JSON":
            # Numbers stay the text written (`1.10` is not 1.1, `1e999` not inf), as YAML rows are read.
            data = json.loads(
                source, object_pairs_hook=_unique_keys, parse_float=str, parse_int=str, parse_constant=_no_constant
            )
        else:
            data = load_flat_yaml(source, f"data file {name}", text=True)
    except DirectiveError as err:  # a ValueError too: the YAML loader's own message names the file
        raise SpecError(str(err), "data") from None
    except (ValueError, RecursionError) as err:
        reason = str(err).splitlines()[0][:120] if not isinstance(err, RecursionError) else "nested too deeply"
        raise SpecError(f"{name} is not valid {kind}: {reason}", "data") from None
    if not isinstance(data, list) or not all(isinstance(record, dict) for record in data):
        raise SpecError(f"{name} must hold a list of records ({{column: value}} each)", "data")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value; write it in quotes if it is text")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different, even once trimmed (YAML and CSV refuse the
    same): last-one-wins would silently drop a value."""
    seen: set[str] = set()
    for key, _value in pairs:
        if key.strip() in seen:
            raise ValueError(f"the key {key.strip()[:60]!r} is given twice in one record")
        seen.add(key.strip())
    return dict(pairs)


class Row(dict):  # type: ignore[type-arg]
    """A record, and how messages name it: `line 4` in a CSV file (as an editor shows it), `row 3`
    (the third record) in JSON and YAML."""

    def __init__(self, items: Any = (), label: str = "") -> None:
        super().__init__(items)
        self.label = label


def _row(name: str, number: int, record: dict[Any, Any]) -> Row:
    """One record as {column: text}: flat, short, printable values only."""
    label = getattr(record, "label", "") or f"row {number}"
    if len(record) > MAX_COLUMNS:
        raise SpecError(f"{name} {label} has {len(record)} columns, over the limit of {MAX_COLUMNS}", "data")
    row = Row(label=label)
    for column, value in record.items():
        if not isinstance(column, str):
            raise SpecError(f"{name} {label}: column names are text, got {str(column)[:40]!r}", "data")
        if isinstance(value, BadCell):
            row[column.strip()] = value
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif value is None:
            value = ""
        if not isinstance(value, str):
            row[column.strip()] = BadCell(f"{column[:40]} must be text, got a {type(value).__name__}")
            continue
        try:
            row[column.strip()] = check_text(column[:40], value, limit=2_000)
        except SpecError as err:  # only the rows whose template uses this column are refused
            row[column.strip()] = BadCell(str(err))
    return row


class BadCell(str):
    """A cell whose value cannot reach a prompt: empty text carrying why. A row that uses its
    column becomes a note naming the row; a column no template slot reads is ignored."""

    problem: str

    def __new__(cls, problem: str) -> BadCell:
        cell = super().__new__(cls, "")
        cell.problem = problem
        return cell
