"""Span and version resolution: a differential test against TFX's own
`calculate_splits_fingerprint_span_and_version`, then what goes beyond TFX
(ranges, the last K spans) and every ConfigError."""

from __future__ import annotations

import datetime
import itertools
import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beam_ingest.errors import ConfigError
from beam_ingest.spans import describe, parse_pattern, resolve

MTIME = 1_700_000_000


def make_tree(base: str, files: list[str]) -> None:
    """Files (relative paths) with their path as content and a fixed whole-second mtime."""
    for i, rel in enumerate(files):
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(rel)
        os.utime(path, (MTIME + i, MTIME + i))


def names(resolution, split: str) -> list[str]:
    return [os.path.basename(f.path) for f in resolution.split(split).files]


def rel(resolution, split: str, base: str) -> list[str]:
    return [os.path.relpath(f.path, base) for f in resolution.split(split).files]


# --- differential test against TFX ------------------------------------------

EPOCH = datetime.date(1970, 1, 1)
FIRST_DAY = (datetime.date(2020, 2, 25) - EPOCH).days  # crosses a month end and Feb 29

# Pattern layouts per kind: {S} is the split name, the specs are TFX's.
LAYOUTS = {
    "span": ["{S}/span-{SPAN}/v{VERSION}/*", "{S}-{SPAN}-v{VERSION}.txt", "{S}/data-{SPAN}"],
    "date": ["{S}/{YYYY}/{MM}/{DD}/v{VERSION}/*", "{S}-{YYYY}{MM}{DD}_{VERSION}.txt"],
    "none": ["{S}/*.txt", "{S}-*"],
}
# Files that are not data: some outside every glob, some inside a glob but
# unparseable (both TFX and beam-ingest must then fail), some harmless.
STRAYS = [
    "README.md",
    "{S}/_SUCCESS.json",
    "{S}/span-x/v1/part-0",
    "{S}/span-3/vx/part-0",
    "{S}-x-v1.txt",
    "{S}/data-",
    "{S}/2020/02/30/v1/part-0",
    "{S}/2020/2/01/v1/part-0",
    "{S}-2020022x_1.txt",
    "{S}/notes.md",
    "{S}-notes",
]


@st.composite
def trees(draw):
    """(base-relative files, {split: pattern}, static span or None).

    Hypothesis gives the randomness, a Random spends it: its choices stay
    independent, which spreads the examples over all kinds of trees.
    """
    rnd = draw(st.randoms(use_true_random=False))
    kind = rnd.choice(["span", "span", "span", "date", "date", "none"])
    layout = rnd.choice(LAYOUTS[kind])
    span_width = rnd.choice([None, None, 1, 2, 3]) if kind == "span" else None
    version_width = rnd.choice([None, None, 1, 2])
    with_version = "{VERSION}" in layout and rnd.random() < 0.5
    pattern = layout
    if span_width:
        pattern = pattern.replace("{SPAN}", f"{{SPAN:{span_width}}}")
    if not with_version:
        pattern = pattern.replace("v{VERSION}/", "").replace("-v{VERSION}", "")
        pattern = pattern.replace("_{VERSION}", "")
    elif version_width:
        pattern = pattern.replace("{VERSION}", f"{{VERSION:{version_width}}}")

    def spelling(width):
        # Mostly the width's own spelling, else zero padding to 1-3 digits, one
        # spelling per number: a number spelled two ways makes TFX's choice
        # depend on the (unsorted) listing order.
        if width and rnd.choice([True, True, True, False]):
            return lambda n: str(n).zfill(width)
        pads = [rnd.choice([1, 1, 2, 3]) for _ in range(13)]
        return lambda n: str(n).zfill(pads[n])

    spell_span, spell_version = spelling(span_width), spelling(version_width)
    split_names = rnd.choice([["train"], ["train", "eval"], ["a", "b", "c"]])

    def numbers(low, size):
        return set(rnd.sample(range(low, 13), rnd.randint(1, size)))

    shared = numbers(1, 4)
    versions = {n: numbers(0, 3) for n in shared}
    files = []
    for split in split_names:
        own = rnd.choice([False, False, False, False, True])
        for span in sorted(numbers(1, 4) if own else shared):
            if own or span not in versions:
                versions[span] = numbers(0, 3)
            for version in sorted(versions[span]) if with_version else [None]:
                day = EPOCH + datetime.timedelta(days=FIRST_DAY + span)
                path = pattern.replace("{S}", split)
                path = path.replace("{YYYY}", f"{day.year:04d}").replace("{MM}", f"{day.month:02d}")
                path = path.replace("{DD}", f"{day.day:02d}")
                path = re.sub(r"\{SPAN(:\d+)?\}", spell_span(span), path)
                if version is not None:
                    path = re.sub(r"\{VERSION(:\d+)?\}", spell_version(version), path)
                for part in range(rnd.randint(1, 2)) if path.endswith("*") else [0]:
                    files.append(path.replace("*", f"part-{part}.txt"))
    # TFX (tf.io.gfile.glob) also matches folders, Beam only files: no stray
    # goes deeper than the pattern, so no folder can match it.
    strays = rnd.sample(STRAYS, rnd.choice([0, 0, 1, 2]))
    files += [
        s.replace("{S}", split_names[0]) for s in strays if s.count("/") <= pattern.count("/")
    ]
    static = None
    if kind != "none":
        choice = rnd.choice(["latest", "latest", "latest", "present", "absent"])
        if choice != "latest":
            static = rnd.choice(sorted(shared)) if choice == "present" else 13
            static += FIRST_DAY if kind == "date" else 0
    return (
        sorted(set(files)),
        {split: pattern.replace("{S}", split) for split in split_names},
        static,
    )


def tfx_resolve(base: str, patterns: dict[str, str], static: int | None):
    """TFX's result: (span, version, {split: files}, {split: resolved pattern}, fingerprint)."""
    from tfx.components.example_gen import utils
    from tfx.dsl.io import fileio
    from tfx.proto import example_gen_pb2, range_config_pb2

    splits = [example_gen_pb2.Input.Split(name=n, pattern=p) for n, p in patterns.items()]
    range_config = None
    if static is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(
                start_span_number=static, end_span_number=static
            )
        )
    fingerprint, span, version = utils.calculate_splits_fingerprint_span_and_version(
        base, splits, range_config
    )
    resolved = {s.name: os.path.join(base, s.pattern) for s in splits}
    files = {n: sorted(fileio.glob(p)) for n, p in resolved.items()}
    return span, version, files, resolved, fingerprint


_example = itertools.count()


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees())
def test_same_span_version_and_files_as_tfx(tmp_path, tree):
    files, patterns, static = tree
    base = str(tmp_path / f"t{next(_example)}")
    make_tree(base, files)
    try:
        try:
            expected = tfx_resolve(base, patterns, static)
        except (ValueError, RuntimeError):
            expected = None
        full = {name: os.path.join(base, p) for name, p in patterns.items()}
        if expected is None:
            with pytest.raises(ConfigError):
                resolve(full, span=static)
            return
        ours = resolve(full, span=static)
        span, version, tfx_files, resolved, fingerprint = expected
        assert (ours.span, ours.version) == (span, version)
        for name in patterns:
            assert [f.path for f in ours.split(name).files] == tfx_files[name]
            assert ours.split(name).patterns == (resolved[name],)
        assert ours.fingerprint == fingerprint
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    ("files", "patterns"),
    [
        # The regex is searched, not anchored: with a width, "data-12" is span 1.
        (["d/data-12", "d/data-1"], {"t": "d/data-{SPAN:1}"}),
        (["d/data-12", "d/data-3"], {"t": "d/data-{SPAN:1}"}),
        # Greedy `.*` for a spec without width, other glob syntax around it.
        (
            ["x1-3-4/part1.txt", "x2-3-10/part2.txt", "x1-2-99/part1.txt"],
            {"t": "x[12]-{SPAN}-{VERSION}/part?.txt"},
        ),
        (["a-1-2.csv", "a-1-2-3.csv"], {"t": "a-{SPAN}-{VERSION}.csv"}),
        # Date specs without separators, several splits.
        (
            ["tr/20240229", "ev/20240229", "tr/20240301"],
            {"tr": "tr/{YYYY}{MM}{DD}", "ev": "ev/{YYYY}{MM}{DD}"},
        ),
        (["tr/20240229", "ev/20240229"], {"tr": "tr/{YYYY}{MM}{DD}", "ev": "ev/{YYYY}{MM}{DD}"}),
    ],
)
def test_same_as_tfx_on_pinned_trees(tmp_path, files, patterns):
    make_tree(str(tmp_path), files)
    try:
        span, version, tfx_files, resolved, fingerprint = tfx_resolve(str(tmp_path), patterns, None)
    except ValueError:
        with pytest.raises(ConfigError):
            resolve({n: str(tmp_path / p) for n, p in patterns.items()})
        return
    ours = resolve({n: str(tmp_path / p) for n, p in patterns.items()})
    assert (ours.span, ours.version, ours.fingerprint) == (span, version, fingerprint)
    for name in patterns:
        assert [f.path for f in ours.split(name).files] == tfx_files[name]
        assert ours.split(name).patterns == (resolved[name],)


# --- what TFX does, pinned by example ------------------------------------------


def test_latest_span_then_latest_version(tmp_path):
    make_tree(
        str(tmp_path),
        ["s-1/v9/a", "s-10/v1/a", "s-10/v2/a", "s-10/v2/b", "s-2/v5/a", "s-10/v10/a"],
    )
    r = resolve({"train": str(tmp_path / "s-{SPAN}/v{VERSION}/*")})
    assert (r.span, r.version, r.spans) == (10, 10, (10,))
    assert r.split("train").patterns == (str(tmp_path / "s-10/v10/*"),)
    assert names(r, "train") == ["a"]


def test_widths_spell_the_span_and_static_span(tmp_path):
    make_tree(str(tmp_path), ["d-003/x", "d-007/x", "d-007/y"])
    pattern = str(tmp_path / "d-{SPAN:3}/*")
    assert resolve({"t": pattern}).span == 7
    r = resolve({"t": pattern}, span=3)
    assert (r.span, r.version, r.split("t").patterns) == (3, None, (str(tmp_path / "d-003/*"),))


def test_date_spans_are_days_since_epoch(tmp_path):
    make_tree(str(tmp_path), ["2021/12/31/a", "2022/01/02/a", "2022/01/02/b"])
    r = resolve({"t": str(tmp_path / "{YYYY}/{MM}/{DD}/*")})
    assert r.span == (datetime.date(2022, 1, 2) - EPOCH).days
    assert names(r, "t") == ["a", "b"]
    assert "(2022-01-02)" in describe(r)
    static = (datetime.date(2021, 12, 31) - EPOCH).days
    assert resolve({"t": str(tmp_path / "{YYYY}/{MM}/{DD}/*")}, span=static).span == static


def test_pattern_without_specs_is_span_0_with_all_files(tmp_path):
    make_tree(str(tmp_path), ["a.csv", "b.csv", "c.txt"])
    r = resolve({"t": str(tmp_path / "*.csv")})
    assert (r.span, r.version, names(r, "t")) == (0, None, ["a.csv", "b.csv"])
    assert resolve({"t": str(tmp_path / "*.json")}).split("t").files == ()


def test_fingerprint_is_tfx_format(tmp_path):
    make_tree(str(tmp_path), ["s-1/a", "s-1/bb"])
    r = resolve({"train": str(tmp_path / "s-{SPAN}/*")})
    xor, total = MTIME ^ (MTIME + 1), 2 * MTIME + 1
    size = len("s-1/a") + len("s-1/bb")
    expected = f"split:train,num_files:2,total_bytes:{size},xor_checksum:{xor},sum_checksum:{total}"
    assert r.fingerprint == expected


# --- beyond TFX: ranges and the last K spans ---------------------------------


@pytest.fixture
def spans_tree(tmp_path):
    make_tree(
        str(tmp_path),
        [
            f"{split}/s-{span}/v{v}/part"
            for split in ("train", "eval")
            for span in (1, 2, 4, 7)
            for v in (1, span)
        ],
    )
    return {split: str(tmp_path / split / "s-{SPAN}/v{VERSION}/*") for split in ("train", "eval")}


def test_span_range_selects_each_span_at_its_latest_version(spans_tree, tmp_path):
    r = resolve(spans_tree, span_range=(2, 6))
    assert [(s.span, s.version) for s in r.selected] == [(2, 2), (4, 4)]
    assert (r.span, r.version) == (4, 4)
    assert r.split("eval").patterns == (
        str(tmp_path / "eval/s-2/v2/*"),
        str(tmp_path / "eval/s-4/v4/*"),
    )
    assert rel(r, "train", str(tmp_path)) == ["train/s-2/v2/part", "train/s-4/v4/part"]
    assert r.fingerprint.count("num_files:2") == 2


def test_last_spans_are_the_k_most_recent_spans_found(spans_tree):
    r = resolve(spans_tree, last_spans=3)
    assert r.spans == (2, 4, 7)  # the K most recent spans found, gaps skipped
    assert resolve(spans_tree, last_spans=99).spans == (1, 2, 4, 7)
    assert resolve(spans_tree, last_spans=1).spans == (7,)


def test_describe_lists_spans_versions_files_and_sizes(spans_tree):
    text = describe(resolve(spans_tree, last_spans=2))
    assert "span 4, version 4\nspan 7, version 7\n" in text
    assert "split train: 2 files, " in text
    assert "s-7/v7/part  " in text and " bytes" in text
    assert "fingerprint:\n  split:train,num_files:2" in text


# --- every ConfigError ----------------------------------------------------------


def error(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_error_mixing_span_and_date_specs():
    message = error(parse_pattern, "x/{SPAN}/{YYYY}{MM}{DD}")
    assert "'x/{SPAN}/{YYYY}{MM}{DD}'" in message and "not both" in message


def test_error_spec_used_twice():
    message = error(parse_pattern, "x/{SPAN}/{SPAN:2}")
    assert "'x/{SPAN}/{SPAN:2}'" in message and "{SPAN} is used 2 times" in message
    assert "{VERSION} is used 2 times" in error(parse_pattern, "{SPAN}{VERSION}{VERSION}")


def test_error_version_without_span_spec():
    message = error(parse_pattern, "x/v{VERSION}/*")
    assert "'x/v{VERSION}/*'" in message and "needs a {SPAN}" in message


def test_error_width_not_a_number():
    for pattern in ("x/{SPAN:a}", "x/{SPAN:0}", "x/{SPAN:}", "x/{SPAN}{VERSION:-1}"):
        message = error(parse_pattern, pattern)
        assert repr(pattern) in message and "is not a positive number" in message


def test_error_incomplete_date_spec():
    message = error(parse_pattern, "x/{YYYY}-{MM}")
    assert "'x/{YYYY}-{MM}'" in message and "{DD} missing" in message


def test_error_path_that_does_not_parse_names_path_and_pattern(tmp_path):
    make_tree(str(tmp_path), ["s-1/a", "s-x/a"])
    pattern = str(tmp_path / "s-{SPAN}/*")
    message = error(resolve, {"t": pattern})
    assert repr(str(tmp_path / "s-x/a")) in message and repr(pattern) in message


def test_error_path_that_misses_the_width_names_path_and_pattern(tmp_path):
    make_tree(str(tmp_path), ["s-01/a", "s-1/a"])
    pattern = str(tmp_path / "s-{SPAN:2}/*")
    message = error(resolve, {"t": pattern})
    assert repr(str(tmp_path / "s-1/a")) in message and repr(pattern) in message


def test_error_invalid_date_names_path_and_pattern(tmp_path):
    make_tree(str(tmp_path), ["2020-02-30/a"])
    pattern = str(tmp_path / "{YYYY}-{MM}-{DD}/*")
    message = error(resolve, {"t": pattern})
    assert repr(str(tmp_path / "2020-02-30/a")) in message and repr(pattern) in message


def test_error_no_span_matches_names_the_pattern(tmp_path):
    make_tree(str(tmp_path), ["s-1/a"])
    pattern = str(tmp_path / "other-{SPAN}/*")
    assert repr(pattern) in error(resolve, {"t": pattern})
    static = error(resolve, {"t": str(tmp_path / "s-{SPAN}/*")}, span=2)
    assert "s-{SPAN}/*" in static and "s-2/*" in static


def test_error_splits_disagree_names_both(tmp_path):
    make_tree(str(tmp_path), ["train/s-2/v1/a", "eval/s-1/v1/a", "test/s-2/v3/a"])
    message = error(
        resolve,
        {s: str(tmp_path / s / "s-{SPAN}/v{VERSION}/*") for s in ("train", "eval")},
    )
    assert "'train': span 2 version 1" in message and "'eval': span 1 version 1" in message
    message = error(
        resolve,
        {s: str(tmp_path / s / "s-{SPAN}/v{VERSION}/*") for s in ("train", "test")},
    )
    assert "'train': span 2 version 1" in message and "'test': span 2 version 3" in message


def test_error_a_split_without_specs_does_not_agree_with_a_span(tmp_path):
    # TFX accepts this when the split without specs comes first (its "select
    # span 0" placeholder is overwritten), fails when it comes second.
    make_tree(str(tmp_path), ["plain/a", "s-3/a"])
    patterns = {"eval": str(tmp_path / "plain/*"), "train": str(tmp_path / "s-{SPAN}/*")}
    message = error(resolve, patterns)
    assert "'eval': span 0" in message and "'train': span 3" in message


def test_error_empty_span_range_and_no_span_in_range(spans_tree):
    assert "span range 5:4 is empty" in error(resolve, spans_tree, span_range=(5, 4))
    message = error(resolve, spans_tree, span_range=(5, 6))
    assert "in 5..6" in message and "s-{SPAN}/v{VERSION}/*" in message


def test_error_last_spans_below_1(spans_tree):
    assert "at least 1" in error(resolve, spans_tree, last_spans=0)


def test_error_more_than_one_selection(spans_tree):
    assert "at most one" in error(resolve, spans_tree, span=1, last_spans=2)


def test_error_static_span_wider_than_width(tmp_path):
    message = error(resolve, {"t": str(tmp_path / "s-{SPAN:2}/*")}, span=123)
    assert "does not fit the width 2" in message and "s-{SPAN:2}/*" in message


def test_error_selection_on_a_pattern_without_specs(tmp_path):
    message = error(resolve, {"t": str(tmp_path / "*.csv")}, last_spans=2)
    assert "'t'" in message and "*.csv" in message and "no span spec" in message


def test_error_no_pattern():
    assert "no input pattern" in error(resolve, {})


def test_relative_patterns_resolve_to_relative_paths(tmp_path, monkeypatch):
    make_tree(str(tmp_path), ["in/s-1/a", "in/s-2/a", "in/s-2/b"])
    monkeypatch.chdir(tmp_path)
    r = resolve({"t": "in/s-{SPAN}/*"})
    assert r.split("t").patterns == ("in/s-2/*",)
    assert [f.path for f in r.split("t").files] == ["in/s-2/a", "in/s-2/b"]
    assert describe(resolve({"t": "in/*/a"})).startswith("span 0 (no specs)\n")
