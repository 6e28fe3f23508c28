"""Fetching a published dataset into data.path, verified against a pinned checksum.

Runs only when data.path is absent or an empty folder, so a dataset tracked by DVC is never re-downloaded.
Every file is downloaded and checked into a staging folder that replaces data.path only when all of them
arrived complete and match their checksums: an interrupted transfer or a changed upstream file leaves
nothing behind. Zip archives (MovieLens, Last.fm) are unpacked, without their single top folder; other files
(e.g. Amazon's .json.gz, which polars reads compressed) are kept as they are.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from pipeline.config import Download
from pipeline.data.sources.staging import staged_directory

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60


def needs_download(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def fetch(downloads: tuple[Download, ...], target: Path) -> None:
    """Download, verify and unpack every file into `target`, all or nothing."""
    with staged_directory(target) as staging:
        for download in downloads:
            name = PurePosixPath(unquote(urlparse(download.url).path)).name or "download"
            file = staging / name
            _download(download, file)
            if zipfile.is_zipfile(file):
                _unpack(file, staging)
                file.unlink()
    log.info("downloaded %d file(s) into %s", len(downloads), target)


def _download(download: Download, file: Path) -> None:
    algorithm, expected = download.checksum.split(":", 1)
    digest = hashlib.new(algorithm)
    received, length = 0, None
    try:
        with urllib.request.urlopen(download.url, timeout=TIMEOUT_S) as response, file.open("wb") as out:  # noqa: S310 - http(s) only, enforced by Download
            length = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
    except http.client.IncompleteRead as error:
        received += len(error.partial)
        raise RuntimeError(_interrupted(download.url, received, length)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise RuntimeError(f"download of {download.url} failed ({reason}); nothing was kept: check the address "
                           "and the network, then run the stage again") from None
    if length is not None and received != int(length):
        raise RuntimeError(_interrupted(download.url, received, length))
    if digest.hexdigest().lower() != expected.lower():
        raise ValueError(
            f"{algorithm} of {download.url} is {digest.hexdigest()}, expected {expected.lower()} "
            "(data.download checksum); the file changed upstream or the checksum is wrong; nothing was kept"
        )


def _interrupted(url: str, received: int, length: str | None) -> str:
    return (f"download of {url} was interrupted after {received:,} of {int(length or 0):,} bytes; "
            "nothing was kept: run the stage again")


def _unpack(archive: Path, into: Path) -> None:
    """Extract regular files only, inside `into` only (no absolute paths, no '..'), without a single top
    folder (ml-1m/ratings.dat -> ratings.dat) and without macOS resource forks."""
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
        parts = [PurePosixPath(m.filename).parts for m in members]
        tops = {p[0] for p in parts if len(p) > 1}
        strip = 1 if len(tops) == 1 and all(len(p) > 1 for p in parts) else 0
        for member, path_parts in zip(members, parts, strict=True):
            relative = PurePosixPath(*path_parts[strip:])
            if relative.is_absolute() or ".." in relative.parts or _is_link(member):
                raise ValueError(f"{archive.name}: refusing to unpack {member.filename!r} (outside the folder or a link)")
            destination = into / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out)


def _is_link(member: zipfile.ZipInfo) -> bool:
    return (member.external_attr >> 16) & 0o170000 == 0o120000
