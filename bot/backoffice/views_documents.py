"""Serving case documents to logged-in staff only: a safe inline type for images/PDFs, else a download."""
from __future__ import annotations

from aiohttp import web

from bot.backoffice import audit
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import bo, current_staff, path_int
from storage.models import CaseDocument

INLINE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
                "application/pdf": "pdf"}


def document_headers(doc: CaseDocument, download: bool) -> dict[str, str]:
    """Content type and disposition that never let a browser run the file."""
    ext = INLINE_TYPES.get(doc.content_type)
    name = f"{doc.item_key}-{doc.id}.{ext or 'bin'}"
    name = "".join(c for c in name if c.isalnum() or c in "-_.")
    inline = ext is not None and not download
    headers = {
        "Content-Type": doc.content_type if ext else "application/octet-stream",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    if inline and doc.content_type == "application/pdf":
        headers["X-Frame-Options"] = "SAMEORIGIN"  # shown in the case page's viewer frame
        headers["Content-Security-Policy"] = "frame-ancestors 'self'"  # Chromium's PDF viewer needs its own resources
    else:
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox; frame-ancestors 'self'"
    return headers


async def document_file(request: web.Request) -> web.StreamResponse:
    context = bo(request)
    doc_id = path_int(request, "doc_id")
    download = request.query.get("download") == "1"
    async with context.services.db.session() as session:
        doc = await session.get(CaseDocument, doc_id)
        if doc is None:
            raise web.HTTPNotFound(text=staff_text("not_found"))
        if download:
            audit.record(session, f"staff:{current_staff(request).username}", "document.download",
                         case_id=doc.case_id, document_id=doc.id)
            await session.commit()
    try:
        data = await context.services.files.read(doc.sha256)
    except (OSError, ValueError):
        raise web.HTTPNotFound(text=staff_text("not_found")) from None
    return web.Response(body=data, headers=document_headers(doc, download))
