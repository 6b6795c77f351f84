"""`hajibot nlu ...`: train, parse, evaluate (Rasa commands are added from bot/cli/rasa.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bot.cli.context import CliContext, pass_cli


@click.group("nlu")
def nlu_group() -> None:
    """Pemahaman bahasa (NLU): latih, uji, evaluasi."""


def _dirs(ctx: CliContext) -> tuple[Path, Path]:
    nlu = ctx.settings.config.nlu
    return ctx.settings.path(nlu.data_dir), ctx.settings.path(nlu.cache_dir)


@nlu_group.command("train")
@pass_cli
def train_cmd(ctx: CliContext) -> None:
    """Latih model NLU bawaan dari nlu/data dan simpan di cache."""
    from nlu.training import train

    data_dir, cache_dir = _dirs(ctx)
    try:
        result = train(data_dir, cache_dir, ctx.settings.config.nlu)
    except (ValueError, OSError) as exc:
        click.echo(f"nlu train failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"trained on {result.examples} examples, {result.intents} intents, {result.faq_entries} FAQ entries "
               f"in {result.seconds:.2f}s → {result.path}")


def _load(ctx: CliContext):
    from nlu.builtin import BuiltinNLU

    data_dir, cache_dir = _dirs(ctx)
    return BuiltinNLU.load(data_dir, cache_dir, ctx.settings.config.nlu)


@nlu_group.command("parse")
@click.argument("text")
@pass_cli
def parse_cmd(ctx: CliContext, text: str) -> None:
    """Tampilkan hasil NLU (JSON) untuk satu pesan."""
    click.echo(json.dumps(_load(ctx).parse_sync(text), ensure_ascii=False, indent=2))


@nlu_group.command("evaluate")
@click.option("--data", "data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Rasa-format NLU test file (YAML)")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for report.json and confusion_matrix.png")
@pass_cli
def evaluate_cmd(ctx: CliContext, data: Path, report_dir: Path | None) -> None:
    """Evaluasi model bawaan pada file uji: akurasi, F1, entitas, latensi."""
    from nlu.evaluation import evaluate, load_rasa_examples, save_confusion_png

    examples = load_rasa_examples(data)
    if not examples:
        click.echo(f"no intent examples in {data}", err=True)
        sys.exit(1)
    report = evaluate(_load(ctx).parse_sync, examples)
    click.echo(format_report(report))
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        save_confusion_png(report, report_dir / "confusion_matrix.png")
        click.echo(f"report written to {report_dir}")


@nlu_group.command("crossval")
@click.option("--folds", default=5, show_default=True, help="Number of folds")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for crossval.json and crossval_confusion.png")
@pass_cli
def crossval_cmd(ctx: CliContext, folds: int, report_dir: Path | None) -> None:
    """Validasi silang model bawaan pada nlu/data (perkiraan untuk kalimat yang belum pernah dilihat)."""
    from nlu.crossval import cross_validate
    from nlu.evaluation import save_confusion_png

    report = cross_validate(_dirs(ctx)[0], ctx.settings.config.nlu, folds=folds)
    click.echo(format_report(report))
    click.echo(f"out_of_scope caught (out_of_scope or nlu_fallback): {report['out_of_scope_caught']}")
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "crossval.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        save_confusion_png(report, report_dir / "crossval_confusion.png")


def format_report(report: dict) -> str:
    """Human-readable summary of an evaluation report."""
    lines = [f"examples {report['examples']}  accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}"]
    scope = report.get("scope") or {}
    if scope.get("in_domain_accuracy") is not None and scope.get("oos_false_accept_rate") is not None:
        lines.append(f"in-domain accuracy {scope['in_domain_accuracy']:.4f} ({scope['in_domain']})  out-of-scope false "
                     f"accepts {scope['oos_false_accepts']}/{scope['out_of_scope']} = {scope['oos_false_accept_rate']:.4f}")
    if "latency_ms" in report:
        lines.append("latency ms  p50 {p50:.3f}  p99 {p99:.3f}  mean {mean:.3f}  max {max:.3f}".format(
            **report["latency_ms"]) + "  (CPU time p50 {p50:.3f}  p99 {p99:.3f})".format(**report["latency_cpu_ms"]))
    lines += ["", f"{'intent':22s} {'prec':>6s} {'rec':>6s} {'f1':>6s} {'n':>4s}"]
    for name, m in report["per_intent"].items():
        lines.append(f"{name:22s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:4d}")
    if report["confused_pairs"]:
        lines += ["", "most confused (gold → predicted):"]
        lines += [f"  {c['gold']} → {c['predicted']}: {c['count']}" for c in report["confused_pairs"][:10]]
    lines += ["", f"{'entity':22s} {'prec':>6s} {'rec':>6s} {'f1':>6s} {'n':>4s}"]
    for name, m in report["entities"].items():
        lines.append(f"{name:22s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:4d}")
    return "\n".join(lines)


COMMANDS: list[click.Command] = [nlu_group]
