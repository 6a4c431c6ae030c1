"""``reasonknee schema``: print the MOAKS question catalogue."""

from __future__ import annotations

import json

import click

__all__ = ["schema"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.option("--category", default=None, help="Only questions of this category (e.g. BML).")
def schema(*, as_json: bool, category: str | None) -> None:
    """Print the 69 public questions with their answer keys, attributes and grades."""
    import moaks_schema as ms

    rows = ms.catalogue()
    if category is not None:
        valid = [c.value for c in ms.Category]
        if category not in valid:
            raise click.BadParameter(f"expected one of {', '.join(valid)}", param_hint="--category")
        rows = [r for r in rows if r["category"] == category]
    if as_json:
        click.echo(json.dumps({"questions": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"MOAKS questions ({len(rows)})")
    for col in ("id", "category", "answer key", "attributes (grades)", "box regions"):
        table.add_column(col)
    for r in rows:
        attrs = "\n".join(
            f"{a['name']}: 0..{len(a['grades']) - 1}"
            for a in r["attributes"]  # type: ignore[index]
        )
        table.add_row(
            str(r["id"]),
            str(r["category"]),
            str(r["answer_key"]),
            attrs,
            " ∪ ".join(r["box_regions"]) or "—",
        )  # type: ignore[arg-type]
    Console().print(table)
