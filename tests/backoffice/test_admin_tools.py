"""Registry upload from the browser, dashboard, audit log page and the `hajibot staff` commands."""
import aiohttp
from click.testing import CliRunner
from sqlalchemy import select

from storage.models import ApiToken, AuditLog, Message, Pilgrim, StaffUser
from tests.backoffice.conftest import ADMIN_PASSWORD, login, seed_case

HEADER = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"
GOOD = "0999999991,BUDI,1375010101700001,1970-01-01,L,Kota Bukittinggi,Sumatera Barat,menunggu,2040,BSI,2015-01-01\n"
BAD = "12345,ANI,1375010101700002,1970-13-01,X,Kota Bukittinggi,Sumatera Barat,menunggu,2040,BSI,2015-01-01\n"


def _upload(csrf: str, content: str, strict: bool = False) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("csrf_token", csrf)
    if strict:
        data.add_field("strict", "1")
    data.add_field("file", content.encode(), filename="registri.csv", content_type="text/csv")
    return data


async def test_registry_upload_shows_validation_report(client, admin_id, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post("/backoffice/registry", data=_upload(csrf, HEADER + GOOD + BAD, strict=True))
    page = await r.text()
    assert r.status == 200 and "Laporan validasi" in page and "nomor_porsi harus tepat 10 angka" in page
    assert "tidak ada yang diimpor" in page
    async with demo_services.db.session() as s:
        assert (await s.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == "0999999991"))).first() is None
    r = await client.post("/backoffice/registry", data=_upload(csrf, HEADER + GOOD + BAD))
    page = await r.text()
    assert "<b>1</b> diimpor" in page and "<td>3</td>" in page
    r = await client.post("/backoffice/registry", data=_upload(csrf, "a,b\n1,2\n"))
    assert "kolom tidak ada" in await r.text()
    async with demo_services.db.session() as s:
        assert (await s.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == "0999999991"))).first() is not None
        audit = (await s.execute(select(AuditLog).where(AuditLog.action == "registry.import"))).scalars().all()
    assert len(audit) == 2


async def test_dashboard_counts(client, admin_id, demo_services):
    seeded = await seed_case(demo_services)
    async with demo_services.db.session() as s:
        for intent in ("greet", "nlu_fallback", "nlu_fallback", "menu"):
            s.add(Message(conversation_id=seeded.conversation_id, channel="webchat", direction="in", text="x",
                          status="processed", intent=intent))
        await s.commit()
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/dashboard", params={"days": "7"})).text()
    assert "<svg" in page and "pembatalan" in page
    assert "50.0%" in page  # 2 of 4 parsed messages not understood


def test_cli_staff_add_token_list_disable(settings, database_url):
    from bot.cli import _register, cli

    _register()
    runner = CliRunner()
    config = str(settings.base_dir / "config.yml")
    env = {"HAJIBOT_DATABASE_URL": database_url}
    r = runner.invoke(cli, ["--config", config, "staff", "add", "siti", "--role", "admin", "--password-stdin"],
                      input="siti-password-1\n", env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", config, "staff", "add", "budi", "--role", "petugas"],
                      input="budi-password-1\nbudi-password-1\n", env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", config, "staff", "add", "x", "--role", "petugas", "--password-stdin"],
                      input="short\n", env=env)
    assert r.exit_code != 0
    r = runner.invoke(cli, ["--config", config, "staff", "token", "siti", "--scope", "read"], env=env)
    assert r.exit_code == 0 and r.output.strip().startswith("hjb_")
    r = runner.invoke(cli, ["--config", config, "staff", "list"], env=env)
    assert "siti\tadmin\tactive" in r.output and "budi\tpetugas\tactive" in r.output
    r = runner.invoke(cli, ["--config", config, "staff", "disable", "budi"], env=env)
    assert r.exit_code == 0
    r = runner.invoke(cli, ["--config", config, "staff", "list"], env=env)
    assert "budi\tpetugas\tdisabled" in r.output

    import asyncio

    from storage.db import Database

    async def check() -> None:
        db = Database(database_url)
        async with db.session() as s:
            staff = (await s.execute(select(StaffUser).where(StaffUser.username == "siti"))).scalar_one()
            token = (await s.execute(select(ApiToken))).scalar_one()
        await db.dispose()
        assert staff.password_hash.startswith("$argon2id$") and "siti-password-1" not in staff.password_hash
        assert token.scope == "read" and token.token_hash not in r.output

    asyncio.run(check())


async def test_demo_seeder_is_idempotent(demo_services, capsys):
    from bot.backoffice.demo import DEMO_TICKET, seed_demo_backoffice

    await seed_demo_backoffice(demo_services.settings, demo_services.db)
    await seed_demo_backoffice(demo_services.settings, demo_services.db)
    assert capsys.readouterr().out.count("password") == 1
    from storage.models import Case

    async with demo_services.db.session() as s:
        cases = (await s.execute(select(Case).where(Case.ticket == DEMO_TICKET))).scalars().all()
    assert len(cases) == 1
