"""Reading an uploaded file into a header and rows of cells, or refusing it with a reason.

CSV is read as UTF-8 (with or without the byte order mark Excel writes), in the comma or the
semicolon dialect (Excel's, where the decimal separator is a comma), and decoded as it streams.
``.xlsx`` is read with openpyxl in read-only mode (rows stream from the sheet's XML), after a look
at the archive's directory that refuses zip bombs before a byte is inflated. Either way a cell is
text, or, from a sheet, the ``datetime``, number or boolean its cell holds.

Every refusal is a :class:`FileRefused` with a message a person can act on; nothing here writes.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

# The longest cell read: a text column holds far less, and one cell of a megabyte is a mistake.
MAX_CELL_CHARS = 100_000
MAX_COLUMNS = 100
# An .xlsx is a zip archive: its parts may inflate to this many times the limit on the upload, and
# no part may inflate more than this many times its compressed size (a sheet's XML compresses
# about tenfold; a zip bomb, such as ten million empty rows, thousands of times).
MAX_INFLATED_FACTOR = 10
MAX_COMPRESSION_RATIO = 200
XLSX_SIGNATURE = b"PK\x03\x04"

Cell = Any  # str, or a sheet's datetime, int, float or bool


class FileRefused(Exception):
    """The file as a whole cannot be imported; the message says why, for the operator."""


@dataclass
class Table:
    """A file's header and, lazily, its data rows (1-based row numbers as a spreadsheet shows)."""

    header: list[str]
    rows: Iterator[tuple[int, list[Cell]]]


def read_table(stream: IO[bytes], filename: str, *, max_bytes: int, max_rows: int) -> Table:
    """The file's first sheet (or its CSV text) as a :class:`Table`, or :class:`FileRefused`."""
    head = stream.read(4)
    stream.seek(0)
    if head == XLSX_SIGNATURE:
        return _read_xlsx(stream, max_bytes, max_rows)
    if filename.lower().endswith((".xlsx", ".xlsm")):
        raise FileRefused(f"“{filename}” is not an Excel workbook (.xlsx): save it from Excel again, or as CSV.")
    if filename.lower().endswith(".xls"):
        raise FileRefused("Old Excel files (.xls) are not read: save the sheet as .xlsx or as CSV UTF-8.")
    return _read_csv(stream, max_rows)


def _read_csv(stream: IO[bytes], max_rows: int) -> Table:
    lines = _decoded_lines(stream)
    first_line = next(lines, "")
    if not first_line.strip():
        raise FileRefused("The file is empty: its first line should be the header row (the export's columns).")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=delimiter, strict=True)
    header = _header(_csv_row(reader, 1))
    return Table(header, _bounded(_csv_rows(reader), max_rows))


_NOT_UTF8 = (
    "The file is not UTF-8 text: it is another encoding, or not a text file at all. "
    "In Excel, save it as “CSV UTF-8 (comma delimited)”, or upload the .xlsx itself."
)


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """The stream's lines as text, decoded as they are read (a wrapper object around the stream
    would close it when collected, under its owner's feet)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    try:
        for raw in stream:
            yield decoder.decode(raw)
        rest = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileRefused(_NOT_UTF8) from None
    if rest:
        yield rest


def _csv_row(reader: Any, number: int) -> list[str]:
    try:
        row = next(reader, None)
    except csv.Error as error:
        raise FileRefused(f"Row {number} cannot be read as CSV ({_csv_problem(error)}).") from None
    if row is None:
        raise FileRefused("The file is empty: its first line should be the header row (the export's columns).")
    return row


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        return f"a cell is longer than {MAX_CELL_CHARS:,} characters"
    return text


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Cell]]]:
    while True:
        number = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FileRefused(f"Row {number} cannot be read as CSV ({_csv_problem(error)}).") from None
        yield number, _checked_text(row, number)


def _checked_text(cells: list[str], number: int) -> list[str]:
    """A CSV row (its cells all text) checked as :func:`_checked` does, in a few calls to C for
    the common row that passes."""
    if len(cells) <= MAX_COLUMNS and "\x00" not in "".join(cells) and max(map(len, cells), default=0) <= MAX_CELL_CHARS:
        return cells
    return _checked(cells, number)


def _checked(cells: list[Cell], number: int) -> list[Cell]:
    if len(cells) > MAX_COLUMNS:
        raise FileRefused(f"Row {number} has {len(cells):,} cells; a file may have at most {MAX_COLUMNS}.")
    for cell in cells:
        if isinstance(cell, str):
            if "\x00" in cell:
                raise FileRefused(f"Row {number} contains a NUL character: the file is not plain text.")
            if len(cell) > MAX_CELL_CHARS:
                raise FileRefused(f"Row {number} has a cell longer than {MAX_CELL_CHARS:,} characters.")
    return cells


def _header(cells: list[Cell]) -> list[str]:
    header = [_text(cell).strip() for cell in _checked(cells, 1)]
    while header and not header[-1]:
        header.pop()  # a sheet's formatting may reach past the last column
    if not any(header):
        raise FileRefused("The first row is empty: it should be the header row (the export's columns).")
    return header


def _bounded(rows: Iterator[tuple[int, list[Cell]]], max_rows: int) -> Iterator[tuple[int, list[Cell]]]:
    """The rows that hold something; a file with more than ``max_rows`` rows (empty ones counted,
    they cost reading too) is refused."""
    for count, (number, cells) in enumerate(rows, start=1):
        if count > max_rows:
            raise FileRefused(f"The file has more than {max_rows:,} rows; split it into smaller files.")
        if any(cell not in (None, "") for cell in cells):
            yield number, cells


def _read_xlsx(stream: IO[bytes], max_bytes: int, max_rows: int) -> Table:
    _refuse_zip_bomb(stream, max_bytes)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=False, keep_links=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:
        raise FileRefused(f"The file is not a readable Excel workbook ({type(error).__name__}).") from None
    except Exception as error:  # openpyxl raises whatever its XML parser meets in a damaged part
        raise FileRefused(f"The workbook is damaged and cannot be read ({type(error).__name__}).") from None
    return Table(*_sheet_rows(workbook, max_rows))


def _sheet_rows(workbook: Any, max_rows: int) -> tuple[list[str], Iterator[tuple[int, list[Cell]]]]:
    try:
        sheet = workbook.worksheets[0]
        rows = _xlsx_rows(sheet.iter_rows(values_only=True))
        first = next(rows, None)
    except FileRefused:
        workbook.close()
        raise
    except Exception as error:
        workbook.close()
        raise FileRefused(f"The workbook's first sheet cannot be read ({type(error).__name__}).") from None
    if first is None:
        workbook.close()
        raise FileRefused("The first sheet is empty: its first row should be the header row (the export's columns).")
    try:
        header = _header(first[1])
    except FileRefused:
        workbook.close()
        raise
    return header, _closing(workbook, _bounded(rows, max_rows))


def _closing(workbook: Any, rows: Iterator[tuple[int, list[Cell]]]) -> Iterator[tuple[int, list[Cell]]]:
    try:
        yield from rows
    finally:
        workbook.close()


def _xlsx_rows(values: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, list[Cell]]]:
    number = 0
    while True:
        number += 1
        try:
            row = next(values)
        except StopIteration:
            return
        except FileRefused:
            raise
        except Exception as error:  # a damaged sheet part fails mid-stream
            raise FileRefused(f"Row {number} of the sheet cannot be read ({type(error).__name__}).") from None
        cells = list(row)
        while cells and cells[-1] in (None, ""):
            cells.pop()
        yield number, _checked([_sheet_cell(cell) for cell in cells], number)


def _sheet_cell(value: Any) -> Cell:
    """A sheet's cell as the converters take it: formulas stay their text (``=SUM(A1)``), whole
    numbers are ints, a date alone is midnight, a time alone is refused later as not a date."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else "" if cell is None else str(cell)


def _refuse_zip_bomb(stream: IO[bytes], max_bytes: int) -> None:
    """Refuse an archive whose parts would inflate past the bounds, from its directory alone."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise FileRefused(f"The file is not a readable Excel workbook ({type(error).__name__}).") from None
    with archive:
        entries = archive.infolist()
        inflated = sum(entry.file_size for entry in entries)
        if len(entries) > 10_000 or inflated > MAX_INFLATED_FACTOR * max(max_bytes, 1):
            raise FileRefused("The workbook inflates to far more data than it holds (a zip bomb?); it was not read.")
        for entry in entries:
            if entry.file_size > 1_000_000 and entry.file_size > MAX_COMPRESSION_RATIO * max(entry.compress_size, 1):
                raise FileRefused(
                    "The workbook inflates to far more data than it holds (a zip bomb, or a sheet of millions "
                    "of empty rows?); it was not read."
                )
        if "xl/workbook.xml" not in archive.namelist():
            raise FileRefused("The file is a zip archive but not an Excel workbook (.xlsx).")
    stream.seek(0)
