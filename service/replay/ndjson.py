"""Reading a Bulk FHIR export: NDJSON files (optionally gzipped), line by line, every unusable line reported.

A Bulk Data `$export` writes one file or more per resource type (`Patient.ndjson`, `Condition.000.ndjson`,
`Observation.ndjson.gz`). Plain files are cut into byte-range chunks at line ends so several workers read one big
file; a gzip file is one chunk (it cannot be entered in the middle).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import re
import zlib
from collections.abc import Generator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service.replay import selection

SUFFIXES = (".ndjson", ".ndjson.gz")
CHUNK_BYTES = 32 * 1024 * 1024  # big enough to amortise a task, small enough to spread a big file over cores
_SCAN_BLOCK = 8 * 1024 * 1024
_READ_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """A part of one export file: bytes [start, end) of a plain file, or a whole gzip file (end = -1)."""

    file_index: int  # position of the file in the export's sorted file list
    path: str
    start: int
    end: int
    first_line: int  # number (1-based) of the chunk's first line


@dataclass(frozen=True)
class BadLine:
    """An input line that could not be used, reported in errors.csv."""

    file_index: int
    line: int
    reason: str


@dataclass(frozen=True)
class Kept:
    """A line the replay uses: its patient, where it came from, and the raw JSON."""

    patient: str
    file_index: int
    line: int
    raw: bytes
    is_patient: bool  # the Patient resource itself


def export_files(export_dir: Path) -> list[Path]:
    """Every NDJSON file of the export, in a fixed order (sorted relative paths)."""
    files = [p for p in export_dir.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)]
    return sorted(files, key=lambda p: p.relative_to(export_dir).as_posix())


def plan_chunks(files: list[Path], chunk_bytes: int = CHUNK_BYTES, *, numbered: bool = True) -> list[Chunk]:
    """Cut the files into chunks, each starting at a line start, with the number of its first line.

    numbered=False leaves every first_line at 1 (numbers relative to the chunk) instead of counting the lines
    before each chunk: that count reads the whole export once more, serially, in the planning process.
    """
    chunks: list[Chunk] = []
    for index, path in enumerate(files):
        if path.name.endswith(".gz"):
            chunks.append(Chunk(index, str(path), 0, -1, 1))
            continue
        size = path.stat().st_size
        start, line = 0, 1
        with path.open("rb") as handle:
            while start < size:
                target = start + chunk_bytes
                if target >= size:
                    chunks.append(Chunk(index, str(path), start, size, line))
                    break
                handle.seek(target)
                handle.readline()  # move to the next line start
                end = handle.tell()
                chunks.append(Chunk(index, str(path), start, end, line))
                if numbered:
                    line += _count_newlines(handle, start, end)
                start = end
    return chunks


def _count_newlines(handle: Any, start: int, end: int) -> int:
    handle.seek(start)
    count, left = 0, end - start
    while left > 0:
        block = handle.read(min(_SCAN_BLOCK, left))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


@dataclass(frozen=True)
class Block:
    """Consecutive whole lines of a chunk, each ending with a newline (a file's last line without one gets one)."""

    first: int  # number of its first line
    data: bytes  # the lines are data[:end]; what follows is the start of a line the next block holds whole
    end: int


def chunk_blocks(chunk: Chunk) -> Generator[Block, int | None, None]:
    """The chunk as blocks of whole lines, in order; a gzip file's damage raises GzipDamage after the good part.

    A block's first line number is known once the caller has read the previous one: `first` counts on from the
    line count `lines_to_read` returns, sent back with `send` (None: count the block's newlines here).
    """
    if chunk.end != -1:
        yield from _file_blocks(chunk)
        return
    number, carry = chunk.first_line, b""
    try:
        with gzip.open(chunk.path, "rb") as handle:
            # read1: what one read of the compressed file gives, so damage loses only the line it cuts.
            while piece := handle.read1(_READ_BLOCK):
                end = piece.rfind(b"\n") + 1
                if not end:
                    carry += piece
                    continue
                data = carry + piece[:end]
                carry = piece[end:]
                lines = yield Block(number, data, len(data))
                number += data.count(b"\n") if lines is None else lines
    except EOFError as exc:
        raise GzipDamage(number, f"gzip file truncated: {exc}; the rest of the file is lost") from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise GzipDamage(number, f"gzip file unreadable from here: {exc}; the rest of the file is lost") from exc
    if carry:  # a last line without its end
        yield Block(number, carry + b"\n", len(carry) + 1)


def _file_blocks(chunk: Chunk) -> Generator[Block, int | None, None]:
    number, at, size = chunk.first_line, chunk.start, _READ_BLOCK
    fd = os.open(chunk.path, os.O_RDONLY)
    try:
        while at < chunk.end:
            # Pieces below malloc's largest mmap threshold (32 MB): each reuses the last one's memory instead of
            # mapping fresh pages (a page fault per 4 kB, a tenth of pass 1's CPU with whole-chunk reads).
            want = min(size, chunk.end - at)
            piece = os.pread(fd, want, at)
            if not piece:
                return
            end = piece.rfind(b"\n") + 1
            # (A short read: the file ended before the chunk, having shrunk since it was planned; without this a
            # last line without its end was read again, in ever larger pieces, forever.)
            if (at + len(piece) == chunk.end or len(piece) < want) and end < len(piece):  # the last line, unended
                piece, end = piece + b"\n", len(piece) + 1
            elif not end:  # a line longer than the piece: read it again, in a larger one
                size *= 2
                continue
            at += end  # the line cut at the piece's end is read again with the next one (not copied out of it)
            lines = yield Block(number, piece, end)
            number += piece.count(b"\n", 0, end) if lines is None else lines
    finally:
        os.close(fd)


def read_blocks(chunk: Chunk, visits: bool) -> Iterator[tuple[Block, int, list[tuple[int, bytes, str | None]]]]:
    """Each block of the chunk with its line count and the lines of it to look at one by one (`lines_to_read`)."""
    blocks = chunk_blocks(chunk)
    lines: int | None = None
    try:
        while True:
            block = blocks.send(lines)
            lines, look = lines_to_read(block, visits)
            yield block, lines, look
    except StopIteration:
        return


def lines_to_read(block: Block, visits: bool) -> tuple[int, list[tuple[int, bytes, str | None]]]:
    """The block's line count, and (number, line without its end, type or None) of each line to look at by itself.

    A tidy block, whose every line starts with the same bytes naming its resourceType and ends with the brace
    closing its object (as export servers write them), is judged whole: of a type the replay never reads, no line
    needs a look; of a type it reads with some codes only, just the lines `selection.lines_maybe_kept` finds. Those
    come with their type: they are of a type the replay reads and not passed over. That is most of an export,
    passed over without a Python step per line. Any other line comes with None, to be judged by itself (`classify`).
    """
    data, first = block.data, block.first
    tidy = _tidy(block)
    if tidy is None:
        lines = (data if block.end == len(data) else data[: block.end]).split(b"\n")
        return len(lines) - 1, [(n, line.rstrip(b"\r"), None) for n, line in enumerate(lines[:-1], first)]
    kind, ends = tidy
    rule = leading_rule(kind, visits)
    if rule == SKIP:
        return len(ends), []
    if rule == FILTER:
        kept = selection.lines_maybe_kept(kind, data, ends, visits)
        return len(ends), [(first + i, data[ends[i - 1] + 1 if i else 0:ends[i]], kind) for i in kept]
    known = kind if rule == KEEP else None
    starts = [0, *(end + 1 for end in ends)]
    return len(ends), [(first + n, data[starts[n]:end], known) for n, end in enumerate(ends)]


_TIDY_LEADING = re.compile(rb'\{"resourceType": ?"([A-Za-z]+)"')  # (orjson's and json.dumps' separators)


def _tidy(block: Block) -> tuple[str, list[int]] | None:
    """(resourceType, position of each newline) of a tidy block (see `lines_to_read`), None for any other block."""
    data, end = block.data, block.end
    leading = _TIDY_LEADING.match(data, 0, end)
    if leading is None:
        return None
    # Each newline must close a line ending with a brace and, but the last, open one with the same leading bytes.
    # One memchr-speed search per line: a count of the newlines and one of the leading bytes cost 3-6x as much.
    prefix, find, starts = leading.group(0), data.find, data.startswith
    ends, at, last = [], data.find(b"\n", 0, end), end - 1
    while at != last:
        if data[at - 1] != 0x7D or not starts(prefix, at + 1):
            return None
        ends.append(at)
        at = find(b"\n", at + 1, end)
    if data[last - 1] != 0x7D:
        return None
    ends.append(last)
    return leading.group(1).decode("ascii"), ends


class GzipDamage(Exception):
    """A gzip file ends early or is corrupt at a line: the lines before it were read."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@functools.cache
def _r4b_folder() -> Path:
    """fhir.resources' R4B folder (finding fhir.resources imports only the `fhir` namespace, not the package)."""
    spec = importlib.util.find_spec("fhir.resources")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("fhir.resources is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "R4B"


@functools.cache
def is_fhir_resource_type(name: str) -> bool:
    """Is `name` a FHIR R4(B) resource type (not a datatype, not a typo)?

    Read from the fhir.resources source (its class derives from Resource or DomainResource) rather than by
    building the model: building one costs a tenth of a second, in every worker. The source is found without
    importing the package either (importing fhir.resources.R4B, pydantic models, costs as much again).
    """
    if not name.isascii() or not name.isalnum() or not name[:1].isupper():
        return False
    source_file = _r4b_folder() / f"{name.lower()}.py"
    if not source_file.is_file():
        return False
    source = source_file.read_text(encoding="utf-8")
    pattern = rf"^class {name}\((domainresource\.DomainResource|resource\.Resource)\):"
    return re.search(pattern, source, re.M) is not None


# A line that starts with its resourceType (as exports write them) names its type before any nested resource.
LEADING_TYPE = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"')


def classify(file_index: int, line: int, raw: bytes, visits: bool) -> Kept | BadLine | None:
    """A line as a kept resource, a bad line with its reason, or None (a resource the replay has no use for).

    A line that starts with the resourceType of a FHIR type the service never reads (Claim, Immunization, ...),
    or of an Observation without any code the template asks for, is passed over unparsed: most of a full export,
    and none of it could change a card.
    """
    leading = LEADING_TYPE.match(raw)
    if leading is not None and passed_over(leading.group(1).decode("ascii"), raw, visits):
        return cut_short(file_index, line, raw)
    result = examine(file_index, line, raw, visits)
    if result is None or isinstance(result, BadLine):
        return result
    patient, is_patient, _, _ = result
    return Kept(patient, file_index, line, raw, is_patient)


SKIP, FILTER, KEEP, PARSE = "skip", "filter", "keep", "parse"


@functools.cache
def leading_rule(leading: str, visits: bool) -> str:
    """What a line whose leading resourceType is `leading` needs: SKIP (a type the service never reads), FILTER
    (a type it reads, only with some codes: `selection.may_keep`), KEEP (a type it reads), PARSE (not a FHIR type:
    the parser reports it)."""
    if leading in selection.KEPT_TYPES:
        return FILTER if selection.filtered(leading, visits) else KEEP
    return SKIP if is_fhir_resource_type(leading) else PARSE


def passed_over(leading: str, raw: bytes, visits: bool) -> bool:
    """Skip the line unparsed: of a type the service never reads, or of one none of whose keys returns the line."""
    rule = leading_rule(leading, visits)
    return rule == SKIP or (rule == FILTER and not selection.may_keep(leading, raw, visits))


def cut_short(file_index: int, line: int, raw: bytes) -> BadLine | None:
    """A passed-over line that does not end with the brace closing its object: reported, as a parsed one would be.

    The commonest damage (a write or a transfer cut off) is caught without parsing; a line broken inside, of a
    type the replay never reads, is not: it could not have changed a card.
    """
    if raw.rstrip()[-1:] == b"}":
        return None
    return BadLine(file_index, line, "not valid JSON: the line ends before its object closes")


def examine(
    file_index: int, line: int, raw: bytes, visits: bool
) -> BadLine | tuple[str, bool, dict[str, Any], tuple[str, ...]] | None:
    """Parse a line and check it: (patient, is Patient, resource, its prefetch keys), a bad line, or None (not used)."""
    try:
        resource = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return BadLine(file_index, line, f"not valid JSON: {exc}")
    if not isinstance(resource, dict):
        return BadLine(file_index, line, "not a JSON object")
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return BadLine(file_index, line, "no resourceType")
    if not is_fhir_resource_type(kind):
        return BadLine(file_index, line, f"unknown resource type {kind[:60]!r}")
    if kind not in selection.KEPT_TYPES:
        return None
    keys = selection.prefetch_keys(resource)
    if not selection.kept(kind, keys, visits):
        return None
    if kind == "Patient":
        patient = resource.get("id")
        if not isinstance(patient, str) or not patient:
            return BadLine(file_index, line, "Patient without an id")
        return patient, True, resource, keys
    patient = selection.patient_reference(resource)
    if patient is None:
        return BadLine(file_index, line, f"{kind} without a subject naming a Patient")
    return patient, False, resource, keys


# What a scan of the bytes can tell without parsing: a Patient's id when it is the key after resourceType, and
# the reference of the one subject (or patient) element when it is the first key of its object.
# Neither may hold a backslash (an escape) or a control character (invalid JSON, and a tab would break the
# partition record).
_PATIENT_ID = re.compile(rb'\s*\{\s*"resourceType"\s*:\s*"Patient"\s*,\s*"id"\s*:\s*"([^"\\\x00-\x1f]+)"')
_REFERENCE = re.compile(rb'\s*:\s*\{\s*"reference"\s*:\s*"([^"\\\x00-\x1f]*)"')
_SUBJECT, _PATIENT = b'"subject"', b'"patient"'


def routing_key(kind: str, raw: bytes) -> tuple[bytes, bool] | None:
    """(patient id in UTF-8, is Patient) of a line of a kept type by a scan of its bytes, None when not sure.

    A routing hint only: the engine parses the line later with `examine` and checks the hint against it. Sure
    means the element (subject, else patient) occurs once in the whole line, so it is the resource's own (one
    nested in another element would come before it) or the resource has none, with an unescaped reference;
    anything else (an escape, a second subject) is left to the parser. A line with a subject is not searched for
    a patient element as well: none of the types the replay keeps has both (a search of every kept line, a tenth
    of pass 1's CPU), and a line that had would be found out by the check.
    """
    found = _scan(kind, raw)
    if found is None or not found[1] or found[0].isascii():
        return found
    try:  # a Patient's id, from its bytes
        found[0].decode("utf-8")
    except UnicodeDecodeError:  # not UTF-8: the parser reports the line
        return None
    return found


def _scan(kind: str, raw: bytes) -> tuple[bytes, bool] | None:
    if kind == "Patient":
        match = _PATIENT_ID.match(raw)
        return None if match is None else (match.group(1), True)
    element = _SUBJECT
    at = raw.find(element)
    if at < 0:
        element = _PATIENT
        at = raw.find(element)
        if at < 0:
            return None
    if raw.find(element, at + 1) >= 0:
        return None
    match = _REFERENCE.match(raw, at + len(element))
    if match is None:
        return None
    try:
        patient = selection.reference_patient(match.group(1).decode("utf-8"))
    except UnicodeDecodeError:  # not UTF-8: the parser reports the line
        return None
    return None if patient is None else (patient.encode("utf-8"), False)


def read_chunk(chunk: Chunk, visits: bool) -> Iterator[Kept | BadLine]:
    """Every kept resource and bad line of a chunk, in line order; a damaged gzip file ends with its BadLine."""
    try:
        for _, _, look in read_blocks(chunk, visits):
            for number, raw, _ in look:
                if raw.isspace() or not raw:
                    continue  # a blank line (a trailing newline, a CRLF export) carries nothing
                result = classify(chunk.file_index, number, raw, visits)
                if result is not None:
                    yield result
    except GzipDamage as damage:
        yield BadLine(chunk.file_index, damage.line, damage.reason)
