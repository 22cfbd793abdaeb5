"""rcodec.entropy: probability models as integer CDF tables, and the entropy coders that use them.

Nothing here knows about images or audio. A codec turns its probability model into a `CdfTables` set plus a
per-symbol table index; an `EntropyCoder` backend turns values, tables and indexes into bytes and back.
"""

from .coder import EntropyCoder, EntropyDecoder, EntropyEncoder
from .tables import CdfTables, quantize_pmf

__all__ = ["CdfTables", "EntropyCoder", "EntropyDecoder", "EntropyEncoder", "quantize_pmf"]
