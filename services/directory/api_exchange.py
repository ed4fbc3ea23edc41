"""Import and export routes: an administrator uploads another directory's file (at once, or
as a job whose progress the import page shows), anyone downloads ours (the same data the
public Open Referral API serves, in one file).

Upload size is bounded by ``SP_MAX_REQUEST_BYTES``; larger directories import from their
feed URL (the command line, ``python -m services.directory.exchange import URL``).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response

from services.directory.exchange import Source, csv_tables, read_csv, read_json
from services.directory.importer import export_feed, import_directory
from shared.auth import Caller, Role, require
from shared.web import NotFound, Unprocessable

__all__ = ["router"]

router = APIRouter(tags=["import and export"])


async def _read_upload(file: UploadFile) -> Source:
    """The uploaded file read into an import source (422 naming the file if it is not one)."""
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in (".json", ".zip"):
        raise Unprocessable("file: send a .json document or a .zip of HSDS CSV files", field="file")
    content = await file.read()
    with tempfile.TemporaryDirectory() as folder:  # both readers read the file whole
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            source = read_csv(path) if suffix == ".zip" else read_json(path)
        except (ValueError, KeyError) as exc:
            raise Unprocessable(f"file: {exc}", field="file") from exc
        except Exception as exc:  # a broken zip names itself badly; say what we could read
            raise Unprocessable(f"file: not readable ({type(exc).__name__})", field="file") from exc
    source.name = f"upload:{name}"
    return source


@router.post("/imports")
async def upload_import(
    request: Request,
    caller: Caller,
    file: UploadFile,
    merge: bool = Query(False, description="Link likely duplicates to our entries."),
) -> dict:
    """Import an Open Referral JSON export, a directory.json, or a zip of HSDS CSV files.

    Answers the import report: created, updated, unchanged, merged, every rejected row with
    its reason, and entries held back as possible duplicates of ours."""
    require(caller, Role.ADMIN)
    source = await _read_upload(file)
    with request.app.state.sessions.begin() as session:
        report = import_directory(session, request.app.state.outbox, source, merge=merge)
    return report.as_dict()


@router.post("/import-jobs", status_code=status.HTTP_202_ACCEPTED)
async def start_import_job(
    request: Request,
    caller: Caller,
    file: UploadFile,
    merge: bool = Query(False, description="Link likely duplicates to our entries."),
) -> dict:
    """The same import as ``POST /imports``, run as a job: answers at once with the job,
    whose ``done`` of ``total`` services ``GET /import-jobs/{id}`` follows, then the report."""
    require(caller, Role.ADMIN)
    source = await _read_upload(file)
    job = request.app.state.import_jobs.start(
        source, source.name.removeprefix("upload:"), caller.user_id, merge
    )
    return job.as_dict()


@router.get("/import-jobs/{job_id}")
def import_job(job_id: str, request: Request, caller: Caller) -> dict:
    """How far an import job has got: ``state`` (waiting, importing, done, failed), ``done``
    of ``total`` services, and the import report once it is done."""
    require(caller, Role.ADMIN)
    job = request.app.state.import_jobs.get(job_id)
    if job is None:
        raise NotFound(f"no import job {job_id!r} (jobs are kept for a while only)")
    return job.as_dict()


@router.get("/exports/openreferral.json")
def export_json(request: Request) -> JSONResponse:
    """The whole directory as one Open Referral UK document."""
    with request.app.state.sessions() as session:
        feed = export_feed(session, request.app.state.settings.small_number_threshold)
    return JSONResponse(
        feed, headers={"Content-Disposition": 'attachment; filename="openreferral.json"'}
    )


@router.get(
    "/exports/hsds.zip",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A zip of HSDS CSV files",
        }
    },
)
def export_csv(request: Request) -> Response:
    """The whole directory as a zip of HSDS CSV files."""
    with request.app.state.sessions() as session:
        feed = export_feed(session, request.app.state.settings.small_number_threshold)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file_name, text in csv_tables(feed).items():
            archive.writestr(file_name, text)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="hsds.zip"'},
    )
