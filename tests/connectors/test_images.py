"""ReadImages: every format and mode read back, the labelling modes, bad records,
batching, partitioning on image/filename, configuration errors."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from beam_ingest import IngestConfig, SplitSpec
from beam_ingest.connectors import _images_labels, images
from beam_ingest.connectors.images import ReadImages
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema
from beam_ingest.splits import SplitAssigner
from tests.helpers import bad_records, decode, run_ingest, split_records

ONE_SPLIT = (SplitSpec(name="all", buckets=1),)
# (extension, mode saved, image/channels); "PT" is a palette with a transparent colour.
# The channels are what tf.io.decode_image returns (TIFF: TensorFlow cannot decode it).
CASES = [
    *[("jpg", "L", 1), ("jpg", "RGB", 3), ("jpg", "CMYK", 3)],
    *[("png", "L", 1), ("png", "LA", 2), ("png", "RGB", 3), ("png", "RGBA", 4)],
    *[("png", "P", 3), ("png", "PT", 4)],
    *[("gif", "L", 3), ("gif", "RGB", 3), ("gif", "RGBA", 3), ("gif", "P", 3)],
    *[("bmp", "L", 1), ("bmp", "RGB", 3), ("bmp", "RGBA", 4), ("bmp", "P", 1)],
    *[("webp", "L", 3), ("webp", "RGB", 3), ("webp", "RGBA", 4), ("webp", "P", 3)],
    *[("tif", "L", 1), ("tif", "RGB", 3), ("tif", "RGBA", 4), ("tif", "P", 3), ("tif", "CMYK", 4)],
]
CLASSES = ("cat", "dog", "bird")
NOT_AN_IMAGE = "not an image Pillow reads as JPEG, PNG, GIF, BMP, WebP or TIFF"


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    gray = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gray))
    if mode in ("P", "PT"):
        return rgb.quantize(16)
    image = rgb.convert(mode)
    if mode.endswith("A"):  # a real alpha: WebP drops an opaque one
        image.putalpha(gray.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    return image


def _save(path: Path, mode: str, size: tuple[int, int] = (6, 4), **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = _image(mode, size)
    if mode == "PT":
        kwargs["transparency"] = 0
    image.save(path, **kwargs)
    return path


def _examples(output_dir: Path, split: str = "all") -> dict[str, dict]:
    examples = [decode(r) for r in split_records(str(output_dir), split)]
    return {e["image/filename"][1][0].decode(): e for e in examples}


def _value(example: dict, name: str):
    return example[name][1][0]


def _run(tmp: Path, source: ReadImages, **kwargs) -> tuple[dict, Path]:
    out = tmp / f"out{len(list(tmp.glob('out*')))}"
    kwargs.setdefault("splits", ONE_SPLIT)
    report = run_ingest(IngestConfig(source=source, output_dir=str(out), **kwargs))
    return report, out


# --- every format and mode, folder labels ------------------------------------


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pets") / "pets"
    for i, (ext, mode, channels) in enumerate(CASES):
        _save(root / CLASSES[i % 3] / f"{i:02d}_{mode}_{channels}.{ext}", mode, (5 + i, 3 + 2 * i))
    frames = [_image("RGB", (9, 7)).rotate(90 * i) for i in range(3)]
    frames[0].save(root / "cat" / "animated.GIF", save_all=True, append_images=frames[1:])
    (root / "notes.txt").write_text("not an image")
    (root / "dog" / ".DS_Store").write_bytes(b"\0")
    return root


@pytest.fixture(scope="module")
def folder_run(pets, tmp_path_factory) -> tuple[ReadImages, dict, Path]:
    source = ReadImages(str(pets / "**"))
    report, out = _run(tmp_path_factory.mktemp("runs"), source)
    return source, report, out


def test_every_format_and_mode_reads_back(pets, folder_run):
    _, report, out = folder_run
    examples = _examples(out)
    assert len(examples) == len(CASES) + 1
    for name, example in examples.items():
        data = (pets / name).read_bytes()
        assert _value(example, "image/encoded") == data
        with Image.open(pets / name) as img:
            width, height, fmt = img.width, img.height, img.format
        assert (_value(example, "image/width"), _value(example, "image/height")) == (width, height)
        assert _value(example, "image/format") == fmt.lower().encode()
        channels = _value(example, "image/channels")
        if not name.endswith(".GIF"):
            assert channels == int(name.rsplit("_", 1)[1].split(".")[0]), name
        if not name.endswith(".tif"):
            shape = tf.io.decode_image(data).shape  # an animated GIF has frames first
            assert tuple(shape[-3:]) == (height, width, channels), name
    assert _value(examples["cat/animated.GIF"], "image/format") == b"gif"
    assert report["records_read"] == report["examples"] == len(CASES) + 1


def test_folder_labels_are_sorted_positions(folder_run):
    source, _, out = folder_run
    assert source.vocabulary == ["bird", "cat", "dog"]
    assert (out / "labels.txt").read_text() == "bird\ncat\ndog\n"
    for name, example in _examples(out).items():
        folder = name.split("/")[0]
        assert _value(example, "image/class/text") == folder.encode()
        assert _value(example, "image/class/label") == source.vocabulary.index(folder)


def test_skipped_files_are_reported_and_not_read(pets, folder_run):
    source, report, _ = folder_run
    skipped = [str(pets / "dog" / ".DS_Store"), str(pets / "notes.txt")]
    assert source.skipped == skipped
    assert report["skipped_files"] == {"all": {"count": 2, "first": skipped}}
    assert len(report["inputs"]["all"]) == len(CASES) + 1


def test_the_same_files_get_the_same_ids_on_another_run(pets, folder_run, tmp_path):
    _, _, out = folder_run
    _, again = _run(tmp_path, ReadImages(str(pets / "*" / "*.*"), root=str(pets)))
    labels = {n: _value(e, "image/class/label") for n, e in _examples(out).items()}
    assert {n: _value(e, "image/class/label") for n, e in _examples(again).items()} == labels
    assert (again / "labels.txt").read_bytes() == (out / "labels.txt").read_bytes()


# --- labels from a pattern or a manifest; none; pinned classes ----------------


def test_pattern_labels(tmp_path):
    for name in ("cat_01.png", "dog_02.png", "dog_03.png", "nolabel.png"):
        _save(tmp_path / "in" / name, "RGB")
    source = ReadImages(str(tmp_path / "in" / "*.png"), label_pattern=r"^([a-z]+)_\d+")
    report, out = _run(tmp_path, source, max_bad_records=1)
    examples = _examples(out)
    assert {n: _value(e, "image/class/label") for n, e in examples.items()} == {
        "cat_01.png": 0,
        "dog_02.png": 1,
        "dog_03.png": 1,
    }
    assert source.vocabulary == ["cat", "dog"]
    [bad] = bad_records(str(out))
    assert bad["file"].endswith("nolabel.png")
    assert bad["reason"] == r"'nolabel.png' does not match label_pattern '^([a-z]+)_\\d+'"
    assert report["records_read"] == 4


@pytest.fixture(scope="module")
def manifest_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("manifest") / "images"
    for name in ("a.png", "b.png", "c.png", "sub/d.png", "e.png"):
        _save(root / name, "L")
    return root


def test_manifest_csv_labels_and_bad_rows(manifest_root, tmp_path):
    manifest = tmp_path / "labels.csv"
    manifest.write_text(
        "path,label\n"
        "a.png,cat\n"
        "./sub/d.png,dog\n"
        f"{manifest_root / 'b.png'},cat\n"
        "missing.png,bird\n"
        "a.png,dog\n"
        "e.png,\n"
    )
    source = ReadImages(str(manifest_root / "**"), manifest=str(manifest))
    report, out = _run(tmp_path, source, max_bad_records=4)
    labels = {n: _value(e, "image/class/text") for n, e in _examples(out).items()}
    assert labels == {"a.png": b"cat", "b.png": b"cat", "sub/d.png": b"dog"}
    assert source.vocabulary == ["bird", "cat", "dog"]  # every row's label, files or not
    ids = {n: _value(e, "image/class/label") for n, e in _examples(out).items()}
    assert ids == {"a.png": 1, "b.png": 1, "sub/d.png": 2}
    reasons = {(Path(b["file"]).name, b["record"]): b["reason"] for b in bad_records(str(out))}
    assert reasons == {
        ("labels.csv", 5): "manifest: 'missing.png': no image matched by the input pattern "
        "has this path",
        ("labels.csv", 6): "manifest: 'a.png' is listed on line 2 already",
        ("c.png", 0): "not listed in the manifest",
        ("e.png", 0): "empty label",
    }
    assert {b["raw"] for b in bad_records(str(out)) if b["record"]} == {
        "missing.png,bird",
        "a.png,dog",
    }
    assert report["records_read"] == report["examples"] + 4 == 7


def _expand(source: ReadImages) -> ReadImages:
    """Builds (does not run) a pipeline: enough for the vocabulary and config errors."""
    _ = beam.Pipeline() | source
    return source


def test_manifest_jsonl_vocabulary(manifest_root, tmp_path):
    manifest = tmp_path / "labels.jsonl"
    rows = [{"filename": "a.png", "class": 10}, {"filename": "b.png", "class": 2}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    source = _expand(ReadImages(str(manifest_root / "*.png"), manifest=str(manifest)))
    assert source.vocabulary == ["10", "2"]  # labels are names, sorted as text
    assert source.extra_outputs()[0] == {"labels.txt": b"10\n2\n"}


def test_units_are_batches_of_files_and_a_big_file_is_alone(tmp_path, monkeypatch):
    for name in "abcefg":
        _save(tmp_path / name / f"{name}.png", "L", (2, 2))
    big = tmp_path / "d" / "d.png"
    big.parent.mkdir()
    Image.effect_noise((80, 80), 60).save(big)
    monkeypatch.setattr(images, "_BATCH_FILES", 3)
    monkeypatch.setattr(images, "_BATCH_BYTES", big.stat().st_size)
    with BeamTestPipeline() as p:
        records = (p | ReadImages(str(tmp_path / "**"), labels="none")).records
        rows = records | beam.Map(lambda b: (b.num_rows, tuple(b.schema.names)))
        names = tuple(name for name, _ in images._COLUMNS)
        assert_that(rows, equal_to([(3, names), (1, names), (3, names)]))


def test_pinned_classes_keep_ids_and_refuse_other_labels(tmp_path):
    for folder in ("ant", "bee", "cow"):
        _save(tmp_path / "in" / folder / "x.png", "L")
    source = ReadImages(str(tmp_path / "in" / "**"), classes=["cow", "ant"])
    with BeamTestPipeline() as p:
        read = p | source
        pairs = read.records | beam.FlatMap(
            lambda b: zip(
                b["image/class/text"].to_pylist(), b["image/class/label"].to_pylist(), strict=True
            )
        )
        assert_that(pairs, equal_to([(b"ant", 1), (b"cow", 0)]))
        reasons = read.bad_records | beam.Map(lambda b: b.reason)
        assert_that(reasons, equal_to(["label 'bee' is not one of classes"]), label="Bad")
    assert source.vocabulary == ["cow", "ant"]


# --- bad records ---------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encoded(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    out = io.BytesIO()
    (Image.effect_noise(size, 60).convert(mode)).save(out, fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "in"
    _save(root / "x" / "good.png", "RGB")
    (root / "x" / "text.jpg").write_text("hello")
    (root / "x" / "empty.png").write_bytes(b"")
    png, jpeg = _encoded("RGB", (30, 30), "PNG"), _encoded("RGB", (30, 80), "JPEG")
    (root / "x" / "truncated.png").write_bytes(png[: len(png) * 6 // 10])
    (root / "x" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 10^10 pixels
    bomb = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b""))
    (root / "x" / "bomb.png").write_bytes(bomb + _chunk(b"IEND", b""))
    _save(root / "x" / "big.png", "L", (60, 60))  # 3600 pixels: 1-2x the patched limit
    (root / "x" / "ppm.png").write_bytes(_encoded("RGB", (3, 3), "PPM"))
    _save(root / "loose.png", "RGB")
    _save(root / "caf\udce9" / "latin1.png", "RGB")  # a folder name in Latin-1: b"caf\xe9"
    return root


def _reasons(out: Path, root: Path) -> dict[str, str]:
    rows = bad_records(str(out))
    assert all(r["record"] == 0 and r["raw"] == "" for r in rows)
    # A name that is not UTF-8 is shown with its bytes escaped.
    assert f"{root}/caf\\xe9/latin1.png" in [r["file"] for r in rows]
    return {Path(r["file"]).name: r["reason"] for r in rows}


def test_bad_images_with_verify_and_a_lowered_bomb_limit(bad_root, tmp_path, monkeypatch):
    # The DirectRunner runs in this process: the patched limit applies in the DoFn.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)
    source = ReadImages(str(bad_root / "**"), verify=True)
    report, out = _run(tmp_path, source, max_bad_records=10)
    reasons = _reasons(out, bad_root)
    assert set(_examples(out)) == {"x/good.png"}
    assert reasons.pop("text.jpg") == NOT_AN_IMAGE
    assert reasons.pop("ppm.png") == NOT_AN_IMAGE  # Pillow reads PPM, but is not asked to
    assert reasons.pop("empty.png") == "empty file"
    assert reasons.pop("truncated.png").startswith("corrupt image: OSError: image file is trunc")
    assert reasons.pop("truncated.jpg").startswith("corrupt image: OSError: ")
    assert reasons.pop("big.png") == (
        "decompression bomb: 60x60 = 3600 pixels is above PIL.Image.MAX_IMAGE_PIXELS (3000)"
    )
    assert reasons.pop("bomb.png").startswith("decompression bomb: Image size (10000000000 pixels)")
    assert reasons == {
        "loose.png": f"no class folder: the image is directly under {str(bad_root)!r} (image_root)",
        "latin1.png": "the file name is not valid UTF-8",
    }
    assert report["records_read"] == 10
    assert report["bad_records"]["count"] == 9


def test_without_verify_only_headers_are_checked(bad_root, tmp_path):
    report, out = _run(tmp_path, ReadImages(str(bad_root / "**")), max_bad_records=10)
    assert set(_examples(out)) == {"x/good.png", "x/big.png"}
    reasons = _reasons(out, bad_root)
    assert reasons["truncated.png"] == "truncated: the file ends without the PNG IEND chunk"
    assert reasons["truncated.jpg"] == (
        "truncated: the file ends without the JPEG end-of-image marker after its last scan"
    )
    assert set(reasons) == {
        "truncated.png",
        "truncated.jpg",
        "text.jpg",
        "ppm.png",
        "empty.png",
        "bomb.png",
        "loose.png",
        "latin1.png",
    }
    assert reasons["bomb.png"] == (  # Pillow's own default limit, twice exceeded: its error
        "decompression bomb: Image size (10000000000 pixels) exceeds limit of 178956970 "
        "pixels, could be decompression bomb DOS attack."
    )
    assert report["records_read"] == 10


# --- splits: partitioning on image/filename ----------------------------------


def test_partition_on_filename_ignores_the_label(tmp_path):
    names = [f"{i:02d}.png" for i in range(12)]
    for name in names:
        _save(tmp_path / "in" / name, "L")
    splits = (SplitSpec(name="train", buckets=2), SplitSpec(name="eval", buckets=1))
    assigner = SplitAssigner(splits)
    placed = []
    for labels in (("cat", "dog"), ("dog", "cat")):
        manifest = tmp_path / f"{labels[0]}.csv"
        rows = [f"{n},{labels[i % 2]}" for i, n in enumerate(names)]
        manifest.write_text("path,label\n" + "\n".join(rows))
        source = ReadImages(str(tmp_path / "in" / "*"), manifest=str(manifest))
        _, out = _run(tmp_path, source, splits=splits, partition_feature="image/filename")
        where = {n: s.name for s in splits for n in _examples(out, s.name)}
        for name, split in where.items():
            key = tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()]))
            index = assigner.assign(key.SerializeToString(deterministic=True))
            assert assigner.names[index] == split
        placed.append(where)
    assert len(placed[0]) == 12 and set(placed[0].values()) == {"train", "eval"}
    assert placed[0] == placed[1]


# --- paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "root"),
    [
        ("/data/pets/**", "/data/pets"),
        ("/data/pets/*/*.jpg", "/data/pets"),
        ("/data/p*ts/cat/*.jpg", "/data"),
        ("/data/pets/cat/1.jpg", "/data/pets/cat"),
        ("/*.png", "/"),
        ("*.png", "."),
        ("gs://bucket/pets/**", "gs://bucket/pets"),
        ("gs://bucket/[ab]/*.png", "gs://bucket"),
    ],
)
def test_the_default_root_is_the_pattern_folder_before_any_glob(pattern, root):
    assert _images_labels.pattern_root(pattern) == root


def test_relative_names():
    assert _images_labels.relative("gs://b/pets/cat/1.jpg", "gs://b/pets/") == "cat/1.jpg"
    assert _images_labels.relative("gs://b/other/1.jpg", "gs://b/pets") is None
    assert _images_labels.relative("./pets/cat/1.jpg", "pets") == "cat/1.jpg"
    assert _images_labels.relative("/x/1.jpg", "/x/pets") is None


# --- configuration errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"file_pattern": ""}, "ReadImages: file_pattern must be a non-empty string; got ''"),
        ({"root": ""}, "image_root: must be a non-empty path; got ''"),
        ({"labels": "dirs"}, "ReadImages: labels must be one of ('folder', 'pattern', "),
        ({"labels": "pattern"}, "label_pattern: needed with labels='pattern' and only then"),
        ({"manifest": "m.csv", "labels": "folder"}, "labels: needed with labels='manifest' and"),
        ({"label_pattern": "("}, "label_pattern: '(' is not a regex"),
        (
            {"label_pattern": "(a)(b)"},
            "label_pattern: '(a)(b)' must have exactly one group; has 2",
        ),
        ({"labels": "none", "classes": ["a"]}, "classes: must be a non-empty list of distinct"),
        ({"classes": ["a", "a"]}, "classes: must be a non-empty list of distinct labels"),
        ({"verify": "yes"}, "verify_images: must be True or False; got 'yes'"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"file_pattern": "in/*", **kwargs}
    with pytest.raises(ConfigError) as error:
        ReadImages(kwargs.pop("file_pattern"), **kwargs)
    assert str(error.value).startswith(message)


IMAGE_OPTIONS = {
    "image_root": None,
    "label_pattern": None,
    "labels": None,
    "no_labels": False,
    "classes": None,
    "verify_images": False,
}


def test_from_options_maps_option_names_to_arguments():
    source = ReadImages.from_options(
        "in/**",
        {**IMAGE_OPTIONS, "image_root": "in", "classes": ["b", "a"], "verify_images": True},
        None,
    )
    assert (source.root, source.labels, source.classes, source.verify) == (
        "in", "folder", ["b", "a"], True
    )  # fmt: skip
    assert ReadImages.from_options("in/**", {**IMAGE_OPTIONS, "no_labels": True}, None).labels == (
        "none"
    )
    manifest = ReadImages.from_options("in/**", {**IMAGE_OPTIONS, "labels": "m.csv"}, None)
    assert (manifest.labels, manifest.manifest) == ("manifest", "m.csv")
    with pytest.raises(ConfigError, match=r"^schema: image examples have fixed features"):
        ReadImages.from_options("in/**", IMAGE_OPTIONS, Schema.from_kinds([("x", Kind.INT)]))


def test_profile_counts_images_by_extension():
    paths = ["a/cat/1.JPG", "a/dog/2.png", "a/notes.txt"]
    records, schema = ReadImages.profile(paths, IMAGE_OPTIONS)
    assert records == 2 and "image/class/label" in schema.names
    _, unlabelled = ReadImages.profile(paths, {**IMAGE_OPTIONS, "no_labels": True})
    assert "image/class/label" not in unlabelled.names and "image/encoded" in unlabelled.names
    with pytest.raises(ConfigError, match=r"^registry push: none of the 1 files is an image"):
        ReadImages.profile(["a/notes.txt"], IMAGE_OPTIONS)
    assert ".jpg" in ReadImages.EXTENSIONS and ".tiff" in ReadImages.EXTENSIONS


def test_no_image_among_the_matched_files(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"matches 1 files but no image .* e\.g\. '.*a\.txt'"):
        _expand(ReadImages(str(tmp_path / "*")))


def test_an_image_outside_the_root(manifest_root):
    with pytest.raises(ConfigError, match=r"image_root: '.*a\.png' is not under '/elsewhere'"):
        _expand(ReadImages(str(manifest_root / "*.png"), root="/elsewhere"))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.csv", "file_path,y\na.png,x\n", "needs a path column (one of ('path', 'filename'"),
        ("m.jsonl", '{"path": "a.png"\n', "line 1 of '.*m.jsonl' is not JSON"),
        ("m.jsonl", "[1]\n", "line 1 of '.*m.jsonl' is not a JSON object"),
        ("missing.csv", None, "cannot read the manifest '.*missing.csv'"),
    ],
)
def test_bad_manifests(manifest_root, tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match="^labels: .*" + message.replace("(", r"\(")):
        _expand(ReadImages(str(manifest_root / "*.png"), manifest=str(tmp_path / name)))


# --- real photographs that a package ships -------------------------------------


def _sklearn_photographs() -> dict[str, bytes]:
    """scikit-learn's sample photographs, read from its wheel, which `make install`
    downloads (not installs: TFX would import it) into .venv/share/sample-wheels."""
    import sys
    import zipfile

    wheels = sorted((Path(sys.prefix) / "share" / "sample-wheels").glob("scikit_learn-*.whl"))
    assert wheels, "no scikit-learn wheel in .venv/share/sample-wheels: run `make install`"
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return {
            name: wheel.read(f"sklearn/datasets/images/{name}")
            for name in ("china.jpg", "flower.jpg")
        }


def test_photographs_a_package_ships(tmp_path):
    """china.jpg and flower.jpg (427x640 RGB JPEGs): bytes kept, header fields
    equal Pillow's and the decoded tensor's shape."""
    shipped = _sklearn_photographs()
    root = tmp_path / "photos"
    (root / "sample").mkdir(parents=True)
    for name, data in shipped.items():
        (root / "sample" / name).write_bytes(data)
    report, out = _run(tmp_path, ReadImages(str(root / "*" / "*.jpg")))
    examples = _examples(out)
    assert sorted(examples) == ["sample/china.jpg", "sample/flower.jpg"]
    assert report["splits"]["all"]["examples"] == 2
    for name, example in examples.items():
        data = shipped[Path(name).name]
        assert _value(example, "image/encoded") == data
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
        decoded = tf.io.decode_image(data)
        assert decoded.shape == (height, width, 3)
        assert (_value(example, "image/height"), _value(example, "image/width")) == (height, width)
        assert _value(example, "image/channels") == 3
        assert _value(example, "image/format") == b"jpeg"
        assert _value(example, "image/class/text") == b"sample"
        assert _value(example, "image/class/label") == 0
