"""Log-in, lockout, sessions, CSRF, open redirects and access control."""
from types import SimpleNamespace

from sqlalchemy import select

from bot.backoffice import views_auth
from bot.backoffice.auth import COOKIE_NAME
from storage.models import AuditLog, StaffUser
from tests.backoffice.conftest import ADMIN_PASSWORD, PETUGAS_PASSWORD, csrf_from, login


async def _login_form(client):
    page = await client.get("/backoffice/login")
    return csrf_from(await page.text())


async def _post_login(client, username, password, next_="/backoffice/cases"):
    token = await _login_form(client)
    return await client.post("/backoffice/login", allow_redirects=False, data={
        "username": username, "password": password, "csrf_token": token, "next": next_})


async def test_wrong_password_refused_and_audited(client, admin_id, demo_services):
    r = await _post_login(client, "admin", "wrong-password-1")
    assert r.status == 401
    assert "salah" in await r.text()
    assert COOKIE_NAME not in {c.key for c in client.session.cookie_jar}
    async with demo_services.db.session() as s:
        actions = (await s.execute(select(AuditLog.action))).scalars().all()
    assert "staff.login_failed" in actions


async def test_repeated_failures_delay_instead_of_locking(client, admin_id, demo_services, monkeypatch):
    """After 5 failures the next attempts must wait (429, 'Tunggu N detik'); nothing is locked in the database.
    The sign-in clock stands still, so a slow machine cannot outlast the first 1-second delay."""
    monkeypatch.setattr(views_auth, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    for _ in range(5):
        assert (await _post_login(client, "admin", "wrong-password-1")).status == 401
    r = await _post_login(client, "admin", ADMIN_PASSWORD)
    assert r.status == 429
    assert "Tunggu" in await r.text() and int(r.headers["Retry-After"]) >= 1
    async with demo_services.db.session() as s:
        staff = await s.get(StaffUser, admin_id)
    assert staff.locked_until is None


async def test_login_needs_csrf_token(client, admin_id):
    await client.get("/backoffice/login")
    r = await client.post("/backoffice/login", allow_redirects=False,
                          data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": "forged"})
    assert r.status == 403


async def test_new_session_id_on_every_login_and_logout_ends_it(client, admin_id):
    r = await _post_login(client, "admin", ADMIN_PASSWORD)
    first = r.cookies[COOKIE_NAME]
    assert first["httponly"] and first["samesite"] == "Strict" and not first["secure"]
    assert first["path"] == "/backoffice"
    r = await _post_login(client, "admin", ADMIN_PASSWORD)
    second = r.cookies[COOKIE_NAME].value
    assert second != first.value
    csrf = csrf_from(await (await client.get("/backoffice/cases")).text())
    r = await client.post("/backoffice/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    client.session.cookie_jar.update_cookies({COOKIE_NAME: second})
    r = await client.get("/backoffice/cases", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/backoffice/login")


async def test_secure_cookie_when_configured(make_settings, aiohttp_client, admin_id, demo_services):
    from bot.app import create_app
    from bot.services import build_services

    settings = make_settings({"backoffice": {"secure_cookies": True}})
    services = await build_services(settings)
    try:
        client = await aiohttp_client(create_app(services))
        r = await client.get("/backoffice/login")
        assert "Secure" in r.headers["Set-Cookie"]
    finally:
        await services.close()


async def test_no_open_redirect(client, admin_id):
    for evil in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
                 "/webchat", "/backoffice/../webchat"):
        r = await _post_login(client, "admin", ADMIN_PASSWORD, next_=evil)
        assert r.status == 303
        location = r.headers["Location"]
        assert location.startswith("/backoffice/") and not location.startswith("//"), (evil, location)
        assert "evil" not in location and ".." not in location
    r = await _post_login(client, "admin", ADMIN_PASSWORD, next_="/backoffice/inbox")
    assert r.headers["Location"] == "/backoffice/inbox"


PAGES = ["/backoffice/cases", "/backoffice/cases/1", "/backoffice/cases.csv", "/backoffice/cases/1/export.pdf",
         "/backoffice/documents/1", "/backoffice/documents/1?download=1", "/backoffice/inbox",
         "/backoffice/conversations/1", "/backoffice/dashboard", "/backoffice/staff", "/backoffice/audit",
         "/backoffice/registry", "/backoffice/webhooks", "/backoffice/", "/backoffice/account",
         "/backoffice/messages/1/attachments/1"]
JSON = ["/backoffice/inbox.json", "/backoffice/conversations/1/messages.json"]
POSTS = ["/backoffice/cases/1/action", "/backoffice/cases/1/assign", "/backoffice/cases/1/documents/1/review",
         "/backoffice/conversations/1/take", "/backoffice/conversations/1/reply", "/backoffice/conversations/1/return",
         "/backoffice/staff", "/backoffice/staff/1", "/backoffice/tokens", "/backoffice/tokens/1/revoke",
         "/backoffice/registry", "/backoffice/logout", "/backoffice/account", "/backoffice/webhooks/1/retry"]


async def test_nothing_without_login(client, seeded):
    for path in PAGES:
        r = await client.get(path, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/backoffice/login?next="), path
    for path in JSON:
        assert (await client.get(path)).status == 401, path
    for path in POSTS:
        assert (await client.post(path, data={"action": "approve"})).status == 401, path
    r = await client.get("/api/v1/cases")
    assert r.status == 401


async def test_petugas_cannot_manage_staff(client, admin_id, petugas_id):
    csrf = await login(client, "petugas", PETUGAS_PASSWORD)
    for path in ("/backoffice/staff", "/backoffice/audit", "/backoffice/registry", "/backoffice/webhooks"):
        assert (await client.get(path)).status == 403, path
    r = await client.post("/backoffice/staff", data={"csrf_token": csrf, "username": "sneaky", "role": "admin",
                                                     "display_name": "x", "password": "p" * 12, "password2": "p" * 12})
    assert r.status == 403
    r = await client.post(f"/backoffice/staff/{admin_id}", data={"csrf_token": csrf, "change": "disable"})
    assert r.status == 403
    r = await client.post("/backoffice/tokens", data={"csrf_token": csrf, "name": "x", "scope": "write"})
    assert r.status == 403
    page = await (await client.get("/backoffice/cases")).text()
    assert "/backoffice/staff" not in page


async def test_admin_manages_staff(client, admin_id, petugas_id, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post("/backoffice/staff", data={"csrf_token": csrf, "username": "rina", "role": "petugas",
                                                     "display_name": "Rina", "password": "rina-pass-123",
                                                     "password2": "rina-pass-123"})
    assert r.status == 200 and "dibuat" in await r.text()
    r = await client.post("/backoffice/staff", data={"csrf_token": csrf, "username": "rina2", "role": "petugas",
                                                     "display_name": "R", "password": "short", "password2": "short"})
    assert "minimal" in await r.text()
    r = await client.post(f"/backoffice/staff/{petugas_id}", data={"csrf_token": csrf, "change": "disable"})
    assert r.status == 200
    r = await client.post(f"/backoffice/staff/{admin_id}", data={"csrf_token": csrf, "change": "disable"})
    assert "sendiri" in await r.text()
    async with demo_services.db.session() as s:
        petugas = await s.get(StaffUser, petugas_id)
        actions = (await s.execute(select(AuditLog.action).where(AuditLog.actor == "staff:admin"))).scalars().all()
    assert petugas.active is False
    assert {"staff.add", "staff.disable"} <= set(actions)
    audit_page = await (await client.get("/backoffice/audit")).text()
    assert "staff.disable" in audit_page


async def test_disabled_staff_session_ends(client, aiohttp_client, admin_id, petugas_id, demo_services):
    await login(client, "petugas", PETUGAS_PASSWORD)
    async with demo_services.db.session() as s:
        staff = await s.get(StaffUser, petugas_id)
        staff.active = False
        await s.commit()
    r = await client.get("/backoffice/cases", allow_redirects=False)
    assert r.status == 303


async def test_csrf_required_on_every_form(client, admin_id, seeded):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    for path in POSTS:
        r = await client.post(path, data={"action": "start_review"})
        assert r.status == 403, path
        r = await client.post(path, data={"action": "start_review", "csrf_token": "wrong"})
        assert r.status == 403, path
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/action", headers={"Origin": "https://evil.example"},
                          data={"action": "start_review", "csrf_token": csrf})
    assert r.status == 403
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/action", allow_redirects=False,
                          data={"action": "start_review", "csrf_token": csrf})
    assert r.status == 303


async def test_security_headers(client, admin_id):
    await login(client, "admin", ADMIN_PASSWORD)
    r = await client.get("/backoffice/cases")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_change_own_password(client, petugas_id, demo_services):
    csrf = await login(client, "petugas", PETUGAS_PASSWORD)
    r = await client.post("/backoffice/account", data={"csrf_token": csrf, "current_password": "nope-nope-nope",
                                                       "new_password": "new-password-99", "new_password2": "new-password-99"})
    assert "saat ini salah" in await r.text()
    r = await client.post("/backoffice/account", allow_redirects=False, data={
        "csrf_token": csrf, "current_password": PETUGAS_PASSWORD, "new_password": "new-password-99",
        "new_password2": "new-password-99"})
    assert r.status == 303 and COOKIE_NAME in r.cookies
    assert (await client.get("/backoffice/cases")).status == 200  # this browser stays logged in
    client.session.cookie_jar.clear()
    await login(client, "petugas", "new-password-99")


async def test_secure_cookie_behind_https_proxy(client, admin_id):
    r = await client.get("/backoffice/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["Set-Cookie"]
