"""Reading CSV files with a clear error when they are not what the config says (part of io).

Before a CSV is scanned, its first 64 KB are checked (a cheap read, not a scan): a binary file
(an image, a workbook, Parquet) or a header that splits on another delimiter is refused with
the fix. Files in an encoding other than UTF-8 are transcoded once to a UTF-8 scratch copy
(Polars reads only UTF-8). When Polars meets an invalid byte later in the file, ``explain``
finds its offset and line and names the config key to set.
"""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path
from typing import IO, cast

from segml.errors import DataError

__all__ = ["POLARS_ENCODINGS", "check_head", "explain", "open_bytes", "transcode"]

POLARS_ENCODINGS = ("utf8", "utf8-lossy")
_HEAD = 1 << 16
_SEPARATORS = (",", ";", "\t", "|")
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive or an Excel workbook",
    b"PAR1": "a Parquet file (set format: parquet)",
    b"\x1f\x8b": "gzip-compressed data without a .gz name",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
}


def open_bytes(path: str | Path) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in .gz."""
    if str(path).endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def check_head(path: str | Path, *, table: str, encoding: str, separator: str) -> None:
    """Refuse a file that is clearly not a CSV of the configured delimiter and encoding."""
    with open_bytes(path) as handle:
        head = handle.read(_HEAD)
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise DataError(
                f"{table}: {path} could not be read as CSV: it looks like {what} (it starts "
                f"with bytes {head[:4].hex(' ')}). Point data.{table}.path at the CSV file, or "
                "export the data as CSV."
            )
    if b"\x00" in head and encoding in POLARS_ENCODINGS:
        raise DataError(
            f"{table}: {path} could not be read as CSV: it holds NUL bytes (binary data, or "
            f"UTF-16 text). Export it as UTF-8 CSV, or set data.{table}.encoding (e.g. utf-16)."
        )
    if encoding == "utf8":
        _check_utf8(head, 0, 1, path=path, table=table, final=len(head) < _HEAD)
    text = head.decode("utf-8" if encoding in POLARS_ENCODINGS else encoding, errors="replace")
    header = text.splitlines()[0] if text else ""
    if separator in header:
        return
    found = [s for s in _SEPARATORS if s != separator and s in header]
    if found:
        raise DataError(
            f"{table}: {path} seems to use {found[0]!r} as its delimiter, not {separator!r} (its "
            f"header line is {header[:120]!r}). Set data.{table}.separator: {found[0]!r}."
        )


def explain(paths: list[str], *, table: str) -> DataError:
    """The error for files Polars could not decode as UTF-8: file, offset, line and the fix."""
    for path in paths:
        try:
            _scan_utf8(path, table=table)
        except DataError as err:
            return err
    return DataError(
        f"{table}: {', '.join(paths)} could not be decoded as UTF-8. Set the encoding in the "
        f"config, e.g. data.{table}.encoding: latin-1."
    )


def _scan_utf8(path: str, *, table: str) -> None:
    offset, line = 0, 1
    carry = b""
    with open_bytes(path) as handle:
        while chunk := handle.read(1 << 20):
            data = carry + chunk
            cut = _complete(data)
            _check_utf8(data[:cut], offset, line, path=path, table=table, final=True)
            offset += cut
            line += data[:cut].count(b"\n")
            carry = data[cut:]
    _check_utf8(carry, offset, line, path=path, table=table, final=True)


def _complete(data: bytes) -> int:
    """Where the last complete UTF-8 character of ``data`` ends (a chunk may cut one)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: complete if its sequence fits
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if need <= back else len(data) - back
    return len(data)


def _check_utf8(
    data: bytes, offset: int, line: int, *, path: str | Path, table: str, final: bool
) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        if not final and err.start >= len(data) - 3:
            return  # the head cut a character in two
        start = err.start
        line += data[:start].count(b"\n")
        context = data[max(0, start - 20) : start + 10].decode("latin-1")
        guess = "latin-1" if data[start] >= 0xA0 else "cp1252"
        where = " of the uncompressed text" if str(path).endswith(".gz") else ""
        raise DataError(
            f"{table}: {path} is not valid UTF-8: byte 0x{data[start]:02x} at byte offset "
            f"{offset + start:,}{where} (line {line:,}, near "
            f"{context!r}). Set its encoding in the config, e.g. data.{table}.encoding: {guess}."
        ) from None


def transcode(path: str | Path, target: Path, *, encoding: str, table: str) -> Path:
    """Write ``path`` (in ``encoding``) to ``target`` as UTF-8, streaming."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open_bytes(path) as src, open(target, "w", encoding="utf-8", newline="") as out:
            while chunk := src.read(1 << 20):
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as err:
        raise DataError(
            f"{table}: {path} is not valid {encoding}: {err.reason} at byte {err.start} of a "
            f"block. Check data.{table}.encoding."
        ) from None
    return target
