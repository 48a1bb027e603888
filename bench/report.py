"""Medians, ratios and the markdown table of a benchmark run."""

from __future__ import annotations

from statistics import median
from typing import Any

#: What each ratio divides by.
BASELINES = ("floor", "jwt_extended")
_MEASURES = ("rps", "p50_ms", "p99_ms", "cpu_us", "redis_cpu_us", "round_trips")


def summarise(runs: list[dict[str, Any]], targets: list[str],
              scenarios: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """Per scenario and target: medians over rounds, errors, and ratios.

    A ratio is taken within each round, where both targets met the same
    machine, and then its median over the rounds is reported.
    """
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in scenarios:
        summary[scenario] = {}
        by_round: dict[int, dict[str, float]] = {}
        for run in runs:
            if run["scenario"] == scenario:
                by_round.setdefault(run["round"], {})[run["target"]] = run["rps"]
        for target in targets:
            mine = [r for r in runs
                    if r["scenario"] == scenario and r["target"] == target]
            if not mine:
                continue
            row = {m: median(r[m] for r in mine) for m in _MEASURES}
            row["errors"] = sum(r["errors"] for r in mine)
            row["requests"] = sum(r["requests"] for r in mine)
            for baseline in BASELINES:
                ratios = [rps[target] / rps[baseline] for rps in by_round.values()
                          if target in rps and rps.get(baseline)]
                if ratios:
                    row[f"vs_{baseline}"] = median(ratios)
            summary[scenario][target] = row
    return summary


def markdown(result: dict[str, Any], labels: dict[str, str]) -> str:
    settings, machine = result["settings"], result["machine"]
    lines = [
        f"Run of {result['date']} on {machine['nproc']} cores ({machine['cpu']}), "
        f"Python {machine['python']}; {settings['rounds']} rounds of "
        f"{settings['duration_s']} s per target and scenario, "
        f"{settings['connections']} connections, gunicorn {settings['gunicorn']}. "
        "Medians over rounds.",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | server CPU µs/req "
        "| Redis CPU µs/req | Redis round trips/req | errors | × floor "
        "| × flask-jwt-extended |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario, rows in result["summary"].items():
        for target, row in rows.items():
            lines.append(
                f"| {scenario} | {labels[target]} | {row['rps']:,.0f} "
                f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['cpu_us']:,.0f} "
                f"| {row['redis_cpu_us']:.0f} | {row['round_trips']:.2f} "
                f"| {row['errors']:.0f} / {row['requests']:,.0f} "
                f"| {row.get('vs_floor', float('nan')):.2f} "
                f"| {row.get('vs_jwt_extended', float('nan')):.2f} |"
            )
    login = result.get("login")
    if login:
        lines += ["", login_table(login)]
    return "\n".join(lines) + "\n"


def login_table(login: dict[str, Any]) -> str:
    p = login["parameters"]
    cheap = login["cheap_parameters"]
    return "\n".join([
        f"Login: medians of {login['samples']} sequential calls "
        f"({login['cheap_samples']} with the cheap hash), each followed by a bare "
        "argon2id verify with the same parameters in the benchmark's process:",
        "",
        "| argon2id parameters | loginUser ms | bare verify ms | login − verify ms "
        "| `{ __typename }` ms | login − verify − `{ __typename }` ms |",
        "|---|--:|--:|--:|--:|--:|",
        f"| t={p['time_cost']}, m={p['memory_cost'] // 1024} MiB, "
        f"p={p['parallelism']} (default) | {login['login_ms']:.1f} "
        f"| {login['verify_ms']:.1f} | {login['overhead_ms']:.2f} "
        f"| {login['plain_ms']:.2f} "
        f"| {login['overhead_ms'] - login['plain_ms']:.2f} |",
        f"| t={cheap['time_cost']}, m={cheap['memory_cost']} KiB, "
        f"p={cheap['parallelism']} (hash nearly free) | {login['cheap_login_ms']:.2f} "
        f"| {login['cheap_verify_ms']:.3f} | {login['cheap_overhead_ms']:.2f} "
        f"| {login['cheap_plain_ms']:.2f} | {login['cheap_own_ms']:.2f} |",
    ])
