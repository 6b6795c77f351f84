"""Serving case documents to logged-in staff only: a safe inline type for images/PDFs, else a download.

Every file is served with `Content-Security-Policy: sandbox` and `nosniff`: a PDF with embedded JavaScript
(flagged on the case page, see dialogues/documents.py) runs in an opaque origin with scripts, forms and
pop-ups disabled, so it can neither read the back office nor act as the signed-in officer."""
from __future__ import annotations

from aiohttp import web

from bot.backoffice import audit
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import bo, current_staff, path_int
from storage.models import CaseDocument, Message

INLINE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
                "application/pdf": "pdf", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a",
                "audio/webm": "webm", "audio/wav": "wav"}  # audio: voice notes played on the staff pages


def file_headers(content_type: str, base_name: str, download: bool) -> dict[str, str]:
    """Content type and disposition that never let a browser run the file."""
    ext = INLINE_TYPES.get(content_type)
    name = "".join(c for c in f"{base_name}.{ext or 'bin'}" if c.isalnum() or c in "-_.")
    inline = ext is not None and not download
    headers = {
        "Content-Type": content_type if ext else "application/octet-stream",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    if inline and content_type == "application/pdf":
        headers["X-Frame-Options"] = "SAMEORIGIN"  # shown in the case page's viewer frame
        # no default-src: the browser's own PDF viewer loads its resources; the sandbox stops the PDF's scripts
        headers["Content-Security-Policy"] = "sandbox; frame-ancestors 'self'"
    else:
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox; frame-ancestors 'self'"
    return headers


def document_headers(doc: CaseDocument, download: bool) -> dict[str, str]:
    return file_headers(doc.content_type, f"{doc.item_key}-{doc.id}", download)


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


async def message_attachment(request: web.Request) -> web.StreamResponse:
    """A file the pilgrim sent in the chat (e.g. to staff during a hand-off)."""
    context = bo(request)
    message_id = path_int(request, "message_id")
    index = path_int(request, "index") - 1
    async with context.services.db.session() as session:
        message = await session.get(Message, message_id)
    attachments = message.attachments if message is not None else []
    if not 0 <= index < len(attachments) or not attachments[index].get("sha256"):
        raise web.HTTPNotFound(text=staff_text("not_found"))
    item = attachments[index]
    try:
        data = await context.services.files.read(str(item["sha256"]))
    except (OSError, ValueError):
        raise web.HTTPNotFound(text=staff_text("not_found")) from None
    download = request.query.get("download") == "1"
    return web.Response(body=data, headers=file_headers(str(item.get("content_type", "")),
                                                        f"pesan-{message_id}-{index + 1}", download))
