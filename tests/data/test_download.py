"""Fetching a dataset over HTTP, against a real server on 127.0.0.1: verified, unpacked, all or nothing."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pipeline.config import Download
from pipeline.data.sources.download import fetch, needs_download
from pipeline.stages import ingest
from tests.data import layouts


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def movielens_1m_zip(tmp_path: Path) -> bytes:
    source = layouts.write_movielens_1m(tmp_path / "ml-1m")
    files = {f"ml-1m/{path.name}": path.read_bytes() for path in source.iterdir()}
    return zipped(files | {"__MACOSX/ml-1m/._ratings.dat": b"\x00resource fork"})


class Server:
    """Serves `files` at their paths; `/cut/<path>` announces the full length but sends half and hangs up."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                cut = self.path.startswith("/cut/")
                body = files.get(self.path.removeprefix("/cut") if cut else self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.url + path


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def test_zip_is_verified_and_unpacked_without_its_top_folder(server: Server, tmp_path: Path) -> None:
    archive = movielens_1m_zip(tmp_path)
    target = tmp_path / "data" / "ml-1m"
    fetch((Download(url=server.serve("/ml-1m.zip", archive), checksum=sha256(archive)),), target)
    assert sorted(p.name for p in target.iterdir()) == ["movies.dat", "ratings.dat", "users.dat"]
    assert leftovers(tmp_path / "data") == ["ml-1m"], "no staging folder, no archive"


def test_plain_files_are_kept_and_md5_is_accepted(server: Server, tmp_path: Path) -> None:
    body = b'{"user_id": "u", "parent_asin": "i", "rating": 5.0, "timestamp": 1588687728923}\n'
    checksum = "md5:" + hashlib.md5(body).hexdigest()
    fetch((Download(url=server.serve("/All_Beauty.jsonl", body), checksum=checksum),), tmp_path / "amazon")
    assert (tmp_path / "amazon" / "All_Beauty.jsonl").read_bytes() == body


def test_checksum_mismatch_keeps_nothing(server: Server, tmp_path: Path) -> None:
    archive = movielens_1m_zip(tmp_path)
    url = server.serve("/ml-1m.zip", archive)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ValueError, match=rf"sha256 of {url} is {hashlib.sha256(archive).hexdigest()}, expected 0{{64}} "
                                         r"\(data.download checksum\); the file changed upstream or the checksum is wrong"):
        fetch((Download(url=url, checksum=wrong),), tmp_path / "data" / "ml-1m")
    assert leftovers(tmp_path / "data") == []


def test_interrupted_download_keeps_nothing(server: Server, tmp_path: Path) -> None:
    archive = movielens_1m_zip(tmp_path)
    server.serve("/ml-1m.zip", archive)
    url = server.url + "/cut/ml-1m.zip"
    with pytest.raises(RuntimeError, match=rf"download of {url} was interrupted after [\d,]+ of {len(archive):,} bytes; "
                                           "nothing was kept: run the stage again"):
        fetch((Download(url=url, checksum=sha256(archive)),), tmp_path / "data" / "ml-1m")
    assert leftovers(tmp_path / "data") == []


def test_second_file_failing_discards_the_first(server: Server, tmp_path: Path) -> None:
    good = b"x" * 1000
    downloads = (Download(url=server.serve("/a.json", good), checksum=sha256(good)),
                 Download(url=server.url + "/missing.json", checksum=sha256(good)))
    with pytest.raises(RuntimeError, match=r"download of .*/missing.json failed \(Not Found\); nothing was kept"):
        fetch(downloads, tmp_path / "data" / "amazon")
    assert leftovers(tmp_path / "data") == []


def test_archive_entries_outside_the_folder_are_refused(server: Server, tmp_path: Path) -> None:
    archive = zipped({"ratings.dat": b"1::2::3::4\n", "../escape.txt": b"no"})
    with pytest.raises(ValueError, match="refusing to unpack '../escape.txt'"):
        fetch((Download(url=server.serve("/evil.zip", archive), checksum=sha256(archive)),), tmp_path / "data" / "x")
    assert leftovers(tmp_path / "data") == [] and not (tmp_path / "escape.txt").exists()


def test_only_an_absent_or_empty_folder_is_downloaded(tmp_path: Path) -> None:
    assert needs_download(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    assert needs_download(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "ratings.dat").write_text("1::2::3::4\n")
    assert not needs_download(tmp_path / "full")


def test_ingest_downloads_then_writes_the_tables(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = movielens_1m_zip(tmp_path)
    data = {"source": "movielens", "path": "data/ml-1m",
            "download": [{"url": server.serve("/ml-1m.zip", archive), "checksum": sha256(archive)}]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": data}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    ingest.main()
    assert sorted(p.name for p in (tmp_path / "data" / "processed").iterdir()) == [
        "interactions.parquet", "items.parquet", "users.parquet"]
    assert leftovers(tmp_path / "data") == ["ml-1m", "processed"]
