"""What an image file is, from its header (for `ReadImages`).

`inspect_image` gives an image's format, height, width and channels, or why
it is a bad record. Only the header is parsed (`PIL.Image.open` is lazy)
unless `verify`, which decodes every frame to catch truncated or corrupt
data. Without it, a PNG without its IEND chunk or a JPEG without an
end-of-image marker after its last scan is a bad record (truncated; a cheap
check of the bytes, no decode). An image above Pillow's decompression-bomb
limit (`PIL.Image.MAX_IMAGE_PIXELS`, read as each image is opened; its
warning range included) is a bad record.
"""

from __future__ import annotations

import io

from PIL import Image, ImageSequence, UnidentifiedImageError

__all__ = ["inspect_image"]

_OPEN = ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"]  # Pillow opens no other format
_FORMATS = {name: name.lower() for name in _OPEN} | {"MPO": "jpeg"}  # JPEG opens MPO files


def inspect_image(data: bytes, verify: bool) -> tuple[tuple[str, int, int, int] | None, str]:
    """(format, height, width, channels) of an image from its header, or why it is bad."""
    if not data:
        return None, "empty file"
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN) as img:
            width, height = img.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit and width * height > limit:
                return None, (
                    f"decompression bomb: {width}x{height} = {width * height} pixels is above "
                    f"PIL.Image.MAX_IMAGE_PIXELS ({limit})"
                )
            fmt = _FORMATS[img.format]
            channels = _channels(fmt, img, data)
            if not verify and (missing := _missing_end(fmt, data)):
                return None, f"truncated: the file ends without {missing}"
            if verify:
                for frame in ImageSequence.Iterator(img):
                    frame.load()
    except Image.DecompressionBombError as e:
        return None, f"decompression bomb: {e}"
    except UnidentifiedImageError:
        return None, "not an image Pillow reads as JPEG, PNG, GIF, BMP, WebP or TIFF"
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on corrupt data
        return None, f"corrupt image: {type(e).__name__}: {e}"
    return (fmt, height, width, channels), ""


def _missing_end(fmt: str, data: bytes) -> str:
    """What a PNG or JPEG file lacks at its end if it was cut short (found
    without decoding: the IEND chunk; an end-of-image marker after the last
    start of scan, markers that cannot occur inside compressed data), else ""."""
    if fmt == "png" and data.rfind(b"IEND", 8) < 0:
        return "the PNG IEND chunk"
    if fmt == "jpeg":
        scan = data.rfind(b"\xff\xda")
        if scan < 0 or data.rfind(b"\xff\xd9") < scan:
            return "the JPEG end-of-image marker after its last scan"
    return ""


def _channels(fmt: str, img: Image.Image, data: bytes) -> int:
    """The channels `tf.io.decode_image` returns (see `ReadImages`' module docstring)."""
    if fmt == "gif":
        return 3
    if fmt == "jpeg":
        return 1 if img.mode == "L" else 3
    if fmt == "bmp":
        header = int.from_bytes(data[14:18], "little")  # BITMAPCOREHEADER (12) or later
        bits = int.from_bytes(data[28:30] if header >= 40 else data[24:26], "little")
        if bits in (8, 24, 32):
            return bits // 8
    if img.mode in ("P", "PA"):
        return 4 if img.mode == "PA" or "transparency" in img.info else 3
    return len(img.getbands())
