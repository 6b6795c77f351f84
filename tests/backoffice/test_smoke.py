from tests.backoffice.conftest import ADMIN_PASSWORD, login


async def test_login_and_pages(client, admin_id, seeded):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    for path in ("/backoffice/cases", f"/backoffice/cases/{seeded.case_id}", "/backoffice/inbox",
                 "/backoffice/dashboard", "/backoffice/staff", "/backoffice/audit", "/backoffice/webhooks",
                 "/backoffice/registry", f"/backoffice/conversations/{seeded.conversation_id}",
                 "/backoffice/inbox.json", "/backoffice/cases.csv", f"/backoffice/cases/{seeded.case_id}/export.pdf"):
        r = await client.get(path)
        assert r.status == 200, (path, await r.text())
    assert csrf
