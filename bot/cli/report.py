"""`hajibot report skm --period 2026-Q4 --out DIR`: the Survei Kepuasan Masyarakat report (CSV + PDF)."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.cli.context import CliContext, pass_cli
from bot.config import Settings
from bot.backoffice.skm.data import Period
from dialogues.survey_rules import SkmRules


@click.group("report")
def report_group() -> None:
    """Laporan kantor."""


@report_group.command("skm")
@click.option("--period", required=True, help="Periode: 2026-Q4 (triwulan), 2026-11 (bulan) atau 2026 (tahun)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder tujuan (dibuat bila belum ada)")
@pass_cli
def skm_cmd(cli: CliContext, period: str, out_dir: Path) -> None:
    """IKM per layanan (PermenPANRB 14/2017): skm-PERIODE.csv dan skm-PERIODE.pdf."""
    from bot.backoffice.skm.data import parse_period

    try:
        parsed = parse_period(period)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    settings = cli.settings
    from dialogues.config import load_rules
    from dialogues.errors import DialogueConfigError

    try:
        rules = load_rules(Path(settings.data_dir) / settings.config.dialogue.rules_dir).skm
    except DialogueConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if rules is None:
        click.echo("error: dialogues/rules has no 'skm' section", err=True)
        sys.exit(2)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, pdf_path = asyncio.run(_write(settings, rules, parsed, out_dir))
    click.echo(f"{csv_path}\n{pdf_path}")


async def _write(settings: Settings, rules: SkmRules, period: Period, out_dir: Path) -> tuple[Path, Path]:
    from bot.backoffice.skm.data import ikm_report
    from bot.backoffice.skm.report import write_csv, write_pdf
    from storage.db import Database

    tz = ZoneInfo(settings.config.office.timezone)
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            report = await ikm_report(session, rules, period, tz)
    finally:
        await db.dispose()
    csv_path, pdf_path = out_dir / f"skm-{period.label}.csv", out_dir / f"skm-{period.label}.pdf"
    write_csv(report, csv_path)
    weight = f"{rules.weight:g}" if rules.weight else f"1/{len(rules.elements)}"
    write_pdf(report, pdf_path, settings.config.office.name, rules.legal_basis, weight,
              datetime.now(timezone.utc).astimezone(tz))
    return csv_path, pdf_path


COMMANDS = [report_group]
