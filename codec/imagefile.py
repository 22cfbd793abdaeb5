"""Image files in and out, exactly: every pixel, every frame, the mode and the palette come back as they went in.

An image is held as the array a codec codes (its *coding view*, uint8 or uint16, (H, W) or (H, W, 3|4)) plus a
*layout*: the facts needed to turn that array back into the original kind of image. The layout is stored in the
.rcz header (covered by the output hash); an empty layout means a plain L, RGB or RGBA image.

    mode        "1" (values 0/1), "L", "LA" (coded as L, L, L, A), "P" (palette indices), "RGB", "RGBA", "CMYK",
                "I;16" (16-bit gray), "LA;16", "RGB;16", "RGBA;16"
    palette     bytes of the palette ("P"), in `palette_mode` "RGB" or "RGBA"; `transparency` an index or bytes
    frames      animated images: every frame composited as shown, RGBA, stacked vertically (T*H, W, 4);
                `durations` float64 milliseconds per frame, `loop`

Pillow reads and writes everything except 16-bit colour PNG, which goes through pypng, and 16-bit colour TIFF,
which tifffile reads (written back as PNG). A file is written in its
original format only when reading the written bytes back gives the same array and layout; otherwise PNG (or TIFF,
for CMYK). Lossy sources (JPEG) so come back as a PNG of their exact pixels: `lossy_source_formats` is the one
place that knows which formats are lossy.
"""

from __future__ import annotations

import io
import struct

import numpy as np

from . import limits
from .errors import MediaError, reason

IMAGE_SUFFIXES = {".png": "PNG", ".apng": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM", ".pgm": "PPM", ".gif": "GIF"}
FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "PPM": ".ppm",
                 "GIF": ".gif"}
# Formats whose files are decoded approximations of what was captured: never written back by default (a re-encode
# would lose more). Exact recompression of JPEG files belongs to a codec that keeps the file's own bytes.
LOSSY_SOURCE_FORMATS = frozenset({"JPEG", "MPO"})
# Tried in this order when the original format cannot hold the decoded image exactly.
FALLBACK_FORMATS = ("PNG", "TIFF")
PLAIN_MODES = {2: "L", 3: "RGB", 4: "RGBA"}  # by the coding view's rank / channel count; no layout needed
_16BIT_MODES = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}  # by channels of the file


def plain_mode(array: np.ndarray) -> str:
    return PLAIN_MODES[2 if array.ndim == 2 else array.shape[2]]


def layout_of_array(array: np.ndarray) -> dict:
    """The layout of a bare array: none for 8 bits (L, RGB, RGBA), the 16-bit mode otherwise."""
    if array.dtype == np.uint8:
        return {}
    return {"mode": "I;16" if array.ndim == 2 else plain_mode(array) + ";16"}


def mode_of(array: np.ndarray, layout: dict) -> str:
    mode = layout.get("mode")
    return mode if isinstance(mode, str) else plain_mode(array)


# --- reading -----------------------------------------------------------------------------------------------------

def load(data: bytes, name: str) -> tuple[np.ndarray, dict, str]:
    """(coding view, layout, format name) of an image file; MediaError naming `name` if it cannot be exact."""
    from PIL import Image, UnidentifiedImageError

    if _png_bit_depth(data) == 16:
        array, layout = _load_png16(data, name)
        return array, layout, "PNG"
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or "PNG"
            _check_size(img.width, img.height, name)
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                if fmt not in ("GIF", "PNG", "WEBP"):
                    raise MediaError(f"{name}: multi-page {fmt} files are not supported (only the first page "
                                     "would be kept)")
                array, layout = _load_frames(img, frames, name)
            elif fmt == "TIFF" and img.mode in ("RGB", "RGBA") and _tiff_bits(img) > 8:
                array, layout = _load_tiff16(data, name)  # Pillow would reduce it to 8 bits
            else:
                img.load()
                array, layout = from_pil(img, name, fmt)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise MediaError(f"{name}: not a readable image or audio file ({reason(exc)})") from None
    return array, layout, fmt


def _check_size(width: int, height: int, name: str, frames: int = 1) -> None:
    if width < 1 or height < 1:
        raise MediaError(f"{name}: empty image ({width}x{height})")
    if width * height > limits.MAX_IMAGE_PIXELS:
        raise MediaError(f"{name}: image of {width}x{height} pixels is too large (limit "
                         f"{limits.MAX_IMAGE_PIXELS} pixels)")
    if frames > limits.MAX_FRAMES or width * height * 4 * frames > limits.MAX_IMAGE_SAMPLES:
        raise MediaError(f"{name}: animation of {frames} frames of {width}x{height} is too large")


def from_pil(img, name: str = "image", fmt: str = "") -> tuple[np.ndarray, dict]:
    """Coding view and layout of one loaded Pillow image, without any conversion that changes a value."""
    _check_size(img.width, img.height, name)
    mode = img.mode
    if fmt == "TIFF" and mode in ("RGB", "RGBA") and _tiff_bits(img) > 8:
        raise MediaError(f"{name}: 16-bit colour TIFF must be read from its bytes (Pillow reduces it to 8 bits)")
    if mode in ("L", "RGB", "RGBA"):
        return np.ascontiguousarray(np.asarray(img)), {}
    if mode == "1":
        return np.asarray(img).astype(np.uint8), {"mode": "1"}
    if mode == "LA":
        la = np.asarray(img)
        return np.ascontiguousarray(la[..., [0, 0, 0, 1]]), {"mode": "LA"}
    if mode == "CMYK":
        return np.ascontiguousarray(np.asarray(img)), {"mode": "CMYK"}
    if mode == "P":
        palette_mode = img.palette.mode if img.palette is not None else "RGB"
        if palette_mode not in ("RGB", "RGBA"):
            raise MediaError(f"{name}: palette images with a {palette_mode} palette are not supported")
        layout: dict = {"mode": "P", "palette_mode": palette_mode,
                        "palette": bytes(img.getpalette(palette_mode) or b"")}
        transparency = img.info.get("transparency")
        if isinstance(transparency, (int, bytes)) and not isinstance(transparency, bool):
            layout["transparency"] = transparency
        return np.ascontiguousarray(np.asarray(img)), layout
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 0xFFFF):
            raise MediaError(f"{name}: {mode} images with values beyond 16 bits are not supported")
        return values.astype(np.uint16), {"mode": "I;16"}
    raise MediaError(f"{name}: {mode} images are not supported (their samples cannot be kept exactly)")


def _tiff_bits(img) -> int:
    bits = getattr(img, "tag_v2", {}).get(258, 8)
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _load_frames(img, frames: int, name: str) -> tuple[np.ndarray, dict]:
    """Every frame as it is shown (Pillow composites disposal and blending), RGBA, with its duration."""
    _check_size(img.width, img.height, name, frames)
    stack, durations = [], []
    for index in range(frames):
        img.seek(index)
        img.load()
        if img.size != stack[0].shape[1::-1] if stack else False:
            raise MediaError(f"{name}: frames of different sizes are not supported")
        stack.append(np.asarray(img.convert("RGBA")))
        durations.append(float(img.info.get("duration", 0) or 0))
    layout = {"mode": "RGBA", "frames": frames, "durations": np.asarray(durations, "<f8").tobytes(),
              "loop": int(img.info.get("loop", 0) or 0)}
    return np.ascontiguousarray(np.concatenate(stack, axis=0)), layout


def _load_tiff16(data: bytes, name: str) -> tuple[np.ndarray, dict]:
    """16-bit colour TIFF through tifffile (uncompressed, deflate and packbits; other compressions are refused)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            shape = tuple(page.shape)
            if len(shape) != 3 or page.dtype != np.uint16:
                raise MediaError(f"{name}: TIFF of shape {shape} and type {page.dtype} is not supported")
            height, width = shape[:2] if shape[-1] in (3, 4) else shape[1:]
            _check_size(width, height, name)
            array = page.asarray()
    except (tifffile.TiffFileError, KeyError, ValueError, OSError) as exc:
        raise MediaError(f"{name}: this 16-bit colour TIFF cannot be read exactly ({reason(exc)})") from None
    if array.shape[-1] not in (3, 4) and array.shape[0] in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar configuration "separate"
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise MediaError(f"{name}: 16-bit TIFF of shape {array.shape} is not supported")
    return np.ascontiguousarray(array, dtype=np.uint16), {"mode": _16BIT_MODES[array.shape[2]]}


def _png_bit_depth(data: bytes) -> int:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 29 or data[12:16] != b"IHDR":
        return 0
    return data[24]


def _load_png16(data: bytes, name: str) -> tuple[np.ndarray, dict]:
    import png

    try:
        reader = png.Reader(bytes=data)
        width, height, rows, info = reader.read()
        _check_size(width, height, name)
        if info.get("transparent") is not None or info.get("palette"):
            raise MediaError(f"{name}: 16-bit PNG with a transparent colour key is not supported")
        planes = info["planes"]
        array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    except png.Error as exc:
        raise MediaError(f"{name}: not a readable PNG file ({reason(exc)})") from None
    mode = _16BIT_MODES[planes]
    if planes == 1:
        return np.ascontiguousarray(array[..., 0]), {"mode": mode}
    if planes == 2:
        return np.ascontiguousarray(array[..., [0, 0, 0, 1]]), {"mode": mode}
    return np.ascontiguousarray(array), {"mode": mode}


# --- checking what a decoder produced ---------------------------------------------------------------------------

def check_layout(shape: tuple[int, ...], dtype: str, layout: dict) -> None:
    """Refuse a layout that does not fit the coded array (a damaged or forged header)."""
    from .errors import FormatError

    mode = layout.get("mode")
    if not layout:
        ok = dtype == "uint8"
    elif mode in ("1", "P"):
        ok = dtype == "uint8" and len(shape) == 2
    elif mode in ("L", "RGB", "RGBA", "LA", "CMYK"):
        channels = {"L": None, "RGB": 3, "RGBA": 4, "LA": 4, "CMYK": 4}[mode]
        ok = dtype == "uint8" and (len(shape) == 2 if channels is None else len(shape) == 3 and shape[2] == channels)
    elif mode in ("I;16", "LA;16", "RGB;16", "RGBA;16"):
        channels = {"I;16": None, "LA;16": 4, "RGB;16": 3, "RGBA;16": 4}[mode]
        ok = dtype == "uint16" and (len(shape) == 2 if channels is None else len(shape) == 3 and shape[2] == channels)
    else:
        ok = False
    frames = layout.get("frames")
    if frames is not None:
        durations = layout.get("durations")
        ok = ok and isinstance(frames, int) and 1 <= frames <= limits.MAX_FRAMES and shape[0] % frames == 0 \
            and isinstance(durations, bytes) and len(durations) == 8 * frames
    if not ok:
        raise FormatError(f"image layout {describe(layout)} does not fit a {dtype} array of shape {shape}")


def describe(layout: dict) -> str:
    return ", ".join(f"{k}={v if not isinstance(v, bytes) else f'<{len(v)} bytes>'}" for k, v in layout.items())


# --- writing -----------------------------------------------------------------------------------------------------

def to_pil(array: np.ndarray, layout: dict):
    """The Pillow image a (single-frame, 8-bit) coding view stands for."""
    from PIL import Image

    mode = mode_of(array, layout)
    if mode == "1":
        return Image.fromarray(array.astype(bool))
    if mode == "LA":
        return Image.fromarray(np.ascontiguousarray(array[..., [0, 3]]), "LA")
    if mode == "CMYK":
        return Image.fromarray(array, "CMYK")
    if mode == "P":
        img = Image.frombytes("P", (array.shape[1], array.shape[0]), array.tobytes())
        img.putpalette(layout.get("palette", b""), layout.get("palette_mode", "RGB"))
        if "transparency" in layout:
            img.info["transparency"] = layout["transparency"]
        return img
    if mode == "I;16":
        return Image.fromarray(array.astype(np.uint16), "I;16")
    return Image.fromarray(array)


def encode_file(array: np.ndarray, layout: dict, fmt: str) -> bytes:
    """Bytes of an image file in `fmt` (one of IMAGE_SUFFIXES' formats) holding the array as exactly as it can."""
    buf = io.BytesIO()
    mode = mode_of(array, layout)
    if "frames" in layout:
        frames = np.split(array, layout["frames"], axis=0)
        return _encode_animation(frames, layout, fmt)
    if mode.endswith(";16") and mode != "I;16" or (mode == "I;16" and fmt == "PNG"):
        if fmt != "PNG":
            raise MediaError(f"16-bit {mode[:-3]} images can only be written as PNG")
        return _encode_png16(array, mode)
    img = to_pil(array, layout)
    options: dict = {}
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if fmt == "JPEG":
        options["quality"] = 95  # only when asked for by name: never exact
        if img.mode not in ("L", "RGB", "CMYK"):
            img = img.convert("RGB")
    elif fmt == "WEBP":
        options = {"lossless": True, "quality": 100, "exact": True}
        if img.mode not in ("RGB", "RGBA"):
            img = img.convert("RGBA" if has_alpha else "RGB")
    elif fmt == "GIF":
        options["optimize"] = False
        if img.mode not in ("P", "L"):
            img = img.convert("P")  # not exact in general; `write` then falls back to PNG
    if img.mode == "P" and "transparency" in img.info and fmt == "PNG":
        options["transparency"] = img.info["transparency"]
    elif img.mode == "P" and isinstance(img.info.get("transparency"), int) and fmt == "GIF":
        options["transparency"] = img.info["transparency"]
    try:
        img.save(buf, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"cannot write this {mode} image as {fmt} ({reason(exc)})") from None
    return buf.getvalue()


def _encode_png16(array: np.ndarray, mode: str) -> bytes:
    import png

    if mode == "LA;16":
        array = array[..., [0, 3]]
    height, width = array.shape[:2]
    planes = 1 if array.ndim == 2 else array.shape[2]
    writer = png.Writer(width, height, greyscale=planes <= 2, alpha=planes in (2, 4), bitdepth=16)
    buf = io.BytesIO()
    writer.write(buf, array.reshape(height, width * planes).astype(np.uint16))
    return buf.getvalue()


def _encode_animation(frames: list[np.ndarray], layout: dict, fmt: str) -> bytes:
    from PIL import Image

    if fmt != "PNG":
        raise MediaError(f"animations are written as APNG (.png), not {fmt}")
    durations = np.frombuffer(layout["durations"], "<f8").tolist()
    images = [Image.fromarray(f, "RGBA") for f in frames]
    buf = io.BytesIO()
    # Every frame whole, replacing the previous one: what a viewer shows is exactly the decoded frame.
    images[0].save(buf, format="PNG", save_all=True, append_images=images[1:], duration=durations,
                   loop=int(layout.get("loop", 0)), disposal=0, blend=0, default_image=False)
    return buf.getvalue()


def same_image(a: tuple[np.ndarray, dict], b: tuple[np.ndarray, dict]) -> bool:
    """Equal pixels and equal layout (frame durations to the millisecond Pillow reports)."""
    (array_a, layout_a), (array_b, layout_b) = a, b
    if array_a.dtype != array_b.dtype or array_a.shape != array_b.shape or not np.array_equal(array_a, array_b):
        return False
    if mode_of(array_a, layout_a) != mode_of(array_b, layout_b):
        return False
    keys = set(layout_a) | set(layout_b)
    for key in keys - {"mode", "durations", "loop"}:
        if layout_a.get(key) != layout_b.get(key):
            return False
    if "durations" in keys:
        da = np.frombuffer(layout_a.get("durations", b""), "<f8")
        db = np.frombuffer(layout_b.get("durations", b""), "<f8")
        return da.shape == db.shape and bool(np.all(np.abs(da - db) < 0.5))
    return True


def write(array: np.ndarray, layout: dict, original_format: str, fmt: str | None = None) -> tuple[bytes, str, bool]:
    """(file bytes, format, exact). With `fmt` given, that format, exact or not; otherwise the original format
    when it holds the image exactly, else the first exact fallback format."""
    if fmt is not None:
        data = encode_file(array, layout, fmt)
        return data, fmt, _reads_back(data, array, layout)
    candidates = [original_format] if original_format and original_format not in LOSSY_SOURCE_FORMATS else []
    candidates += [f for f in FALLBACK_FORMATS if f not in candidates]
    reasons = []
    for candidate in candidates:
        if candidate not in FORMAT_SUFFIX:
            continue
        try:
            data = encode_file(array, layout, candidate)
        except MediaError as exc:
            reasons.append(str(exc))
            continue
        if _reads_back(data, array, layout):
            return data, candidate, True
        reasons.append(f"{candidate} does not hold it exactly")
    raise MediaError(f"no image format here holds this {mode_of(array, layout)} image exactly "
                     f"({'; '.join(reasons)})")


def _reads_back(data: bytes, array: np.ndarray, layout: dict) -> bool:
    try:
        back, back_layout, _ = load(data, "output")
    except MediaError:
        return False
    return same_image((array, layout), (back, back_layout))


# --- lossy codecs ------------------------------------------------------------------------------------------------

def plain(array: np.ndarray, layout: dict, name: str = "image") -> np.ndarray:
    """An 8-bit L, RGB or RGBA view for codecs that approximate anyway (the lossy ones)."""
    if "frames" in layout:
        raise MediaError(f"{name}: animated images are kept whole only by lossless codecs; a lossy codec would "
                         "keep one frame")
    mode = mode_of(array, layout)
    if mode in PLAIN_MODES.values() and not layout:
        return array
    if mode.endswith("16"):
        array8 = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return array8 if mode != "LA;16" else array8[..., [0, 1, 2, 3]]
    if mode == "1":
        return (array * 255).astype(np.uint8)
    img = to_pil(array, layout)
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    return np.ascontiguousarray(np.asarray(img.convert("RGBA" if has_alpha else "RGB")))
