"""Span and version specs in input patterns, resolved as TFX ExampleGen does.

`{SPAN}`/`{SPAN:width}` or the date specs `{YYYY}{MM}{DD}` (days since
1970-01-01), each optionally with `{VERSION}`/`{VERSION:width}`, follow the
rules of `tfx/components/example_gen/utils.py`: the pattern with its specs as
`*` is matched; every file's span and version are read with TFX's regex (`.*`
or `.{width}` per spec, searched, not anchored); the latest span wins and in
it the latest version. Static spans, ranges and the last K spans select.

Unlike TFX: only files count (tf.io.gfile.glob also matches folders), `**`
crosses folders (Beam's glob), widths must be digits, and splits must agree
exactly (TFX lets a first split at span 0 without version take any span).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping

from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo

SPAN, VERSION = "{SPAN}", "{VERSION}"
DATE_SPECS = ("{YYYY}", "{MM}", "{DD}")
_DATE_GROUPS = {"{YYYY}": ("year", 4, 0), "{MM}": ("month", 2, 1), "{DD}": ("day", 2, 2)}
_EPOCH = datetime.date(1970, 1, 1)
# TFX's SPAN_FULL_REGEX / VERSION_FULL_REGEX and the three date specs, in one pass.
_SPEC_RE = re.compile(r"\{(SPAN|VERSION)(?::(.*?))?\}|\{(YYYY|MM|DD)\}")


@dataclasses.dataclass(frozen=True)
class SpanPattern:
    """An input pattern as literal glob text and specs (`parts`, widths stripped)."""

    pattern: str
    parts: tuple[str, ...]
    span_width: int | None
    version_width: int | None

    @property
    def is_date(self) -> bool:
        return DATE_SPECS[0] in self.parts

    @property
    def has_span(self) -> bool:
        return SPAN in self.parts or self.is_date

    @property
    def has_version(self) -> bool:
        return VERSION in self.parts

    def span_tokens(self, span: int) -> tuple[str, ...]:
        """How TFX spells a static span in this pattern (three tokens for a date).

        Raises:
            ConfigError: the span has more digits than the width, or is no date.
        """
        if self.is_date:
            try:
                date = _EPOCH + datetime.timedelta(days=span)
            except OverflowError as e:
                raise ConfigError(f"span {span} is no date for {self.pattern!r}") from e
            return (f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}")
        width = self.span_width or 0
        if width and width < len(str(span)):
            raise ConfigError(f"span {span} does not fit the width {width} of {self.pattern!r}")
        return (str(span).zfill(width),)

    def glob(self, span: int | None = None) -> str:
        """The pattern with every spec as `*`, or with a static span filled in."""
        return self.fill(None if span is None else self.span_tokens(span), None)

    def fill(self, span_tokens: tuple[str, ...] | None, version: str | None) -> str:
        """The pattern with span and version spelled out; None leaves `*`."""
        keys = (SPAN,) if SPAN in self.parts else DATE_SPECS
        tokens = dict(zip(keys, span_tokens or (), strict=False))
        if version is not None:
            tokens[VERSION] = version
        specs = (SPAN, VERSION, *DATE_SPECS)
        return "".join(tokens.get(p, "*") if p in specs else p for p in self.parts)

    def regex(self, span: int | None = None) -> re.Pattern[str]:
        """TFX's regex: a named group per spec, `.*`, `.{width}` or a static span."""
        static = None if span is None else self.span_tokens(span)
        out = []
        for part in self.parts:
            if part in (SPAN, VERSION):
                name = part[1:-1].lower()
                width = self.span_width if part == SPAN else self.version_width
                body = ".*" if width is None else f".{{{width}}}"
                if static and part == SPAN:
                    body = re.escape(static[0])
                out.append(f"(?P<{name}>{body})")
            elif part in _DATE_GROUPS:
                name, width, index = _DATE_GROUPS[part]
                body = re.escape(static[index]) if static else f".{{{width}}}"
                out.append(f"(?P<{name}>{body})")
            else:  # literal glob text, with Beam's `match` semantics
                regex = FileSystem.translate_pattern(part)
                out.append(regex.removeprefix("(?ms)").removesuffix(r"\Z"))
        return re.compile("".join(out))

    def parse(
        self, path: str, regex: re.Pattern[str]
    ) -> tuple[tuple[str, ...], int, str | None, int | None]:
        """(span tokens, span, version token, version) of a path the glob matched.

        Raises:
            ConfigError: the regex does not match, a part is no number or the
                date is invalid (TFX raises ValueError in each case).
        """
        found = regex.search(path)
        if found is None:
            raise ConfigError(f"{path!r} matches the glob of {self.pattern!r} but not its specs")
        tokens = found.group("year", "month", "day") if self.is_date else (found.group("span"),)
        version = found.group("version") if self.has_version else None
        try:
            numbers = [int(token) for token in tokens]
            version_number = None if version is None else int(version)
            span = (datetime.date(*numbers) - _EPOCH).days if self.is_date else numbers[0]
        except ValueError as e:
            raise ConfigError(
                f"{path!r}: no span or version number (or no valid date) where "
                f"{self.pattern!r} has its specs"
            ) from e
        return tokens, span, version, version_number


def parse_pattern(pattern: str) -> SpanPattern:
    """Parses and validates the span, date and version specs of a pattern.

    Raises:
        ConfigError: `{SPAN}` and date specs mixed, a spec used twice, a date
            spec without the other two, `{VERSION}` without a span or date
            spec, or a width that is not a positive number.
    """
    parts, widths, start = [], {}, 0
    for found in _SPEC_RE.finditer(pattern):
        spec = "{%s}" % (found.group(1) or found.group(3))
        parts += [pattern[start : found.start()], spec]
        start = found.end()
        if found.group(2) is not None:
            widths[spec] = found.group(2)
    parts.append(pattern[start:])
    count = {spec: parts.count(spec) for spec in (SPAN, VERSION, *DATE_SPECS)}
    dates = [count[spec] for spec in DATE_SPECS]
    problems = []
    if count[SPAN] and any(dates):
        problems.append("use either {SPAN} or the date specs {YYYY}{MM}{DD}, not both")
    problems += [f"{spec} is used {n} times" for spec, n in count.items() if n > 1]
    if any(dates) and not all(dates):
        missing = ", ".join(spec for spec in DATE_SPECS if not count[spec])
        problems.append(f"incomplete date spec, {missing} missing (all three go together)")
    if count[VERSION] and not (count[SPAN] or any(dates)):
        problems.append("{VERSION} needs a {SPAN} or a {YYYY}{MM}{DD} spec")
    problems += [
        f"width {w!r} of {s[:-1]}:{w}}} is not a positive number"
        for s, w in widths.items()
        if not (w.isascii() and w.isdigit() and int(w) > 0)
    ]
    if problems:
        raise ConfigError(f"input pattern {pattern!r}: {problems[0]}")
    return SpanPattern(
        pattern,
        tuple(p for p in parts if p),
        int(widths[SPAN]) if SPAN in widths else None,
        int(widths[VERSION]) if VERSION in widths else None,
    )


@dataclasses.dataclass(frozen=True, order=True)
class SpanVersion:
    span: int
    version: int | None


@dataclasses.dataclass(frozen=True)
class SplitResolution:
    """One split: its pattern, the concrete globs to read (one per selected span,
    ascending) and the files they match (sorted by path)."""

    name: str
    spec: SpanPattern
    patterns: tuple[str, ...]
    files: tuple[FileInfo, ...]


@dataclasses.dataclass(frozen=True)
class Resolution:
    """The spans selected (ascending, each at its latest version; the same for
    every split), the splits in the order given and TFX's `input_fingerprint`."""

    selected: tuple[SpanVersion, ...]
    splits: tuple[SplitResolution, ...]
    fingerprint: str

    @property
    def span(self) -> int:
        """The (latest) selected span; 0 for patterns without span specs."""
        return self.selected[-1].span

    @property
    def version(self) -> int | None:
        """The version of the latest selected span; None without `{VERSION}`."""
        return self.selected[-1].version

    @property
    def spans(self) -> tuple[int, ...]:
        return tuple(s.span for s in self.selected)

    def split(self, name: str) -> SplitResolution:
        """The resolution of one split.

        Raises:
            KeyError: no split has that name.
        """
        return {split.name: split for split in self.splits}[name]


def _list(pattern: str) -> list[FileInfo]:
    try:
        results = FileSystems.match([pattern])
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot match {pattern!r}: {e}") from e
    return sorted(
        (
            FileInfo(m.path, m.size_in_bytes, m.last_updated_in_seconds)
            for m in results[0].metadata_list
        ),
        key=lambda info: info.path,
    )


def _select(listing: list[FileInfo], paths: list[str], pattern: str) -> list[FileInfo]:
    """The files of a sorted listing that Beam's `match` of `pattern` returns."""
    prefix = re.match(r"[^[*?]*", pattern).group(0)
    matches = re.compile(FileSystem.translate_pattern(pattern)).match
    out = []
    for i in range(bisect.bisect_left(paths, prefix), len(paths)):
        if not paths[i].startswith(prefix):
            break
        if matches(paths[i]):
            out.append(listing[i])
    return out


def _resolve_split(
    name: str,
    spec: SpanPattern,
    span: int | None,
    span_range: tuple[int, int] | None,
    last: int | None,
    list_files: Callable[[str], list[FileInfo]] = _list,
) -> tuple[SplitResolution, tuple[SpanVersion, ...]]:
    if not spec.has_span:
        if (span, span_range, last) != (None, None, None):
            raise ConfigError(f"split {name!r}: {spec.pattern!r} has no span spec to select by")
        files = tuple(list_files(spec.pattern))
        return SplitResolution(name, spec, (spec.pattern,), files), (SpanVersion(0, None),)
    listing = list_files(spec.glob(span))
    regex = spec.regex(span)
    # Per span, as TFX keeps it for the latest one: the first spelling of the
    # span, the highest version and the last spelling of that version.
    latest: dict[int, tuple[tuple[str, ...], int | None, str | None]] = {}
    for info in listing:
        tokens, number, version, version_number = spec.parse(info.path, regex)
        seen = latest.get(number)
        if seen is None:
            latest[number] = (tokens, version_number, version)
        elif version_number is not None and version_number >= seen[1]:
            latest[number] = (seen[0], version_number, version)
    if not latest:
        raise ConfigError(
            f"split {name!r}: no file of {spec.pattern!r} matches {spec.glob(span)!r}"
        )
    if span_range is not None:
        chosen = [s for s in sorted(latest) if span_range[0] <= s <= span_range[1]]
        if not chosen:
            raise ConfigError(
                f"split {name!r}: no span of {spec.pattern!r} in {span_range[0]}..{span_range[1]} "
                f"(found {len(latest)} spans, {min(latest)} to {max(latest)})"
            )
    else:
        chosen = sorted(latest)[-(last or 1) :]
    paths = [info.path for info in listing]
    patterns = tuple(spec.fill(latest[s][0], latest[s][2]) for s in chosen)
    files = sorted(
        {f.path: f for pattern in patterns for f in _select(listing, paths, pattern)}.values(),
        key=lambda info: info.path,
    )
    selected = tuple(SpanVersion(s, latest[s][1]) for s in chosen)
    return SplitResolution(name, spec, patterns, tuple(files)), selected


def _describe_selected(selected: tuple[SpanVersion, ...]) -> str:
    return "; ".join(
        f"span {s.span}" + ("" if s.version is None else f" version {s.version}") for s in selected
    )


def _fingerprint(split: SplitResolution) -> str:
    """TFX's `io_utils.generate_fingerprint`: mtimes in whole seconds."""
    seconds = [int(f.mtime) for f in split.files]
    xor = 0
    for s in seconds:
        xor ^= s
    total = sum(f.size for f in split.files)
    return (
        f"split:{split.name},num_files:{len(split.files)},total_bytes:{total},"
        f"xor_checksum:{xor},sum_checksum:{sum(seconds)}"
    )


def resolve(
    split_patterns: Mapping[str, str],
    *,
    span: int | None = None,
    span_range: tuple[int, int] | None = None,
    last_spans: int | None = None,
    list_files: Callable[[str], list[FileInfo]] | None = None,
) -> Resolution:
    """Selects the span(s) and version(s) of every split and their files.

    Args:
        split_patterns: Split name to input pattern (any Beam filesystem).
        span: A static span (TFX's static range), in it the latest version.
        span_range: Every span found in `[first, last]`, each at its latest version.
        last_spans: The `last_spans` most recent spans found (TFX's LatestSpan
            resolver op with n=last_spans), each at its latest version.
        list_files: What a glob matches, sorted by path; by default the files
            `FileSystems.match` finds. The registry lists entry names here, so
            that the same rules select entries.

    Returns:
        The selection. Patterns without specs select span 0, version None and
        all files they match (possibly none, as in TFX).

    Raises:
        ConfigError: a bad pattern or option, a file whose span or version does
            not parse, no span found, or splits that select different spans or
            versions.
    """
    if not split_patterns:
        raise ConfigError("no input pattern given")
    if sum(x is not None for x in (span, span_range, last_spans)) > 1:
        raise ConfigError("give at most one of a span, a span range and a number of last spans")
    if span_range is not None and span_range[0] > span_range[1]:
        raise ConfigError(f"span range {span_range[0]}:{span_range[1]} is empty")
    if last_spans is not None and last_spans < 1:
        raise ConfigError(f"the number of last spans must be at least 1, not {last_spans}")
    specs = {name: parse_pattern(pattern) for name, pattern in split_patterns.items()}
    resolved = [
        _resolve_split(name, spec, span, span_range, last_spans, list_files or _list)
        for name, spec in specs.items()
    ]
    if len({selected for _, selected in resolved}) > 1:
        raise ConfigError(
            "the splits select different spans or versions: "
            + ", ".join(f"{split.name!r}: {_describe_selected(sel)}" for split, sel in resolved)
        )
    splits = tuple(split for split, _ in resolved)
    fingerprint = "\n".join(_fingerprint(split) for split in splits)
    return Resolution(resolved[0][1], splits, fingerprint)


def describe(resolution: Resolution) -> str:
    """The text of `beam-ingest spans --input PATTERN`: spans, versions, files."""
    dated = any(split.spec.is_date for split in resolution.splits)
    lines = []
    for s in resolution.selected:
        date = f" ({_EPOCH + datetime.timedelta(days=s.span)})" if dated else ""
        version = "" if s.version is None else f", version {s.version}"
        spec = "" if any(split.spec.has_span for split in resolution.splits) else " (no specs)"
        lines.append(f"span {s.span}{date}{version}{spec}")
    for split in resolution.splits:
        total = sum(f.size for f in split.files)
        lines.append(f"split {split.name}: {len(split.files)} files, {total:,} bytes")
        lines.append(f"  pattern {split.spec.pattern}")
        lines.extend(f"  read    {pattern}" for pattern in split.patterns)
        lines.extend(f"    {f.path}  {f.size:,} bytes" for f in split.files)
    lines.append("fingerprint:")
    lines.extend(f"  {line}" for line in resolution.fingerprint.splitlines())
    return "\n".join(lines)
