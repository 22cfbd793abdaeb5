"""rcodec's exception hierarchy. Every error a user can cause is an RcodecError with a one-line message."""


class RcodecError(Exception):
    """Base class: the CLI prints the message and exits with status 1."""


class FormatError(RcodecError):
    """The compressed data is not a valid .rcz stream (wrong magic, truncated, damaged, impossible values)."""


class ChecksumError(FormatError):
    """A checksum in the .rcz stream does not match: the data was damaged or decoded differently."""


class UnsupportedError(RcodecError):
    """Valid input that this version cannot handle: a future format version, an unknown codec or coder."""


class WeightsError(RcodecError):
    """A weights file is missing, damaged (sha256 mismatch) or does not fit the codec."""


class MediaError(RcodecError):
    """The input image or audio cannot be read, or has a shape or type the codec refuses."""


class OutputError(RcodecError):
    """The output cannot be written: it exists (use -f), is the input itself, or is a terminal."""


def reason(exc: BaseException) -> str:
    """A library exception's message for a user: without Python object reprs such as `<_io.BytesIO object at 0x..>`."""
    import re

    text = re.sub(r"\s*<[^<>]*? (object )?at 0x[0-9a-fA-F]+>", "", str(exc)).strip()
    text = re.sub(r"\s+:", ":", text)
    return text or type(exc).__name__
