"""Ray Data helpers (extra `rcodec[ray]`): compress and decompress the images of a `ray.data.Dataset` with
`map_batches` and a callable class, so each actor loads its codec's model once and keeps it; read `.rcz` files.
`concurrency` is the number of actors, one CPU each.

    >>> import ray, rcodec.ray
    >>> images = ray.data.read_images("s3://bucket/photos/")           # column "image"
    >>> packed = rcodec.ray.compress(images, codec="hyperprior", quality=4)
    >>> packed.write_parquet("s3://bucket/packed/")                     # column "rcz" (bytes), other columns kept
    >>> again = rcodec.ray.decompress(packed)                           # column "image" again
    >>> rcodec.ray.read_rcz("s3://bucket/rcz-files/")                   # .rcz files -> "image" (and "path")
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_CONCURRENCY = 2


class Compress:
    """`map_batches` callable: the images of `column` (uint8 arrays) -> .rcz bytes in `output`."""

    def __init__(self, codec: str | None = None, column: str = "image", output: str = "rcz", **params: Any) -> None:
        from .registry import get_registry

        get_registry().codec(codec or "lossless")  # an unknown codec fails when the actor starts, not per batch
        self.codec, self.column, self.output, self.params = codec, column, output, params

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .pipeline import encode

        out = {k: v for k, v in batch.items() if k != self.column}
        out[self.output] = _objects([encode(np.asarray(x), self.codec, **self.params) for x in batch[self.column]])
        return out


class Decompress:
    """`map_batches` callable: .rcz bytes in `column` -> decoded images (uint8 arrays) in `output`."""

    def __init__(self, column: str = "rcz", output: str = "image", **options: Any) -> None:
        self.column, self.output, self.options = column, output, options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .pipeline import decode

        out = {k: v for k, v in batch.items() if k != self.column}
        images = [decode(bytes(x), **self.options) for x in batch[self.column]]
        shapes = {getattr(x, "shape", None) for x in images}
        out[self.output] = np.stack(images) if len(shapes) == 1 and None not in shapes else _objects(images)
        return out


def _objects(items: list) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def compress(ds, codec: str | None = None, column: str = "image", output: str = "rcz",
             concurrency: int = DEFAULT_CONCURRENCY, batch_size: int | None = 16, **params: Any):
    """`ds` with the images of `column` replaced by their .rcz bytes in `output`; `concurrency` actors."""
    return ds.map_batches(Compress, fn_constructor_kwargs=dict(codec=codec, column=column, output=output, **params),
                          compute=_actors(concurrency), batch_size=batch_size, batch_format="numpy")


def decompress(ds, column: str = "rcz", output: str = "image", concurrency: int = DEFAULT_CONCURRENCY,
               batch_size: int | None = 16, **options: Any):
    """`ds` with the .rcz bytes of `column` replaced by the decoded images in `output`."""
    return ds.map_batches(Decompress, fn_constructor_kwargs=dict(column=column, output=output, **options),
                          compute=_actors(concurrency), batch_size=batch_size, batch_format="numpy")


def _actors(count: int):
    import ray.data

    return ray.data.ActorPoolStrategy(size=count)


def read_rcz(paths: str | list[str], concurrency: int = 1, **options: Any):
    """A dataset of the images in `.rcz` files (local paths or object storage such as s3://...): columns
    "image" and "path". Each decoding actor holds a CPU and the file reads need one too: keep `concurrency`
    below the cluster's CPU count."""
    import ray

    files = ray.data.read_binary_files(paths, include_paths=True, file_extensions=["rcz"])
    return decompress(files, column="bytes", concurrency=concurrency, **options)
