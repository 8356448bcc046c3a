"""One table of several held-out results (``report.py``'s JSON files): a row per system, a column per source.

    python benchmarks/heldout/compare.py v7 v6 --baselines-from v6 [--results benchmarks/heldout/results]

Each model's row gives PESQ-WB / STOI per source and over all clips, and counts the sources where it is at or above
Codec2 1200 on both metrics (at the reported precision: PESQ-WB to 2 decimals, STOI to 3). The baseline rows come
from ``--baselines-from`` (the same clips, scored by the same ``llmcodec evaluate``). A second table gives each
model's token stability (speech frames, all frames, UED), when its run measured it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REFERENCE = "codec2_1200"
BASELINES = ("codec2_700C", "codec2_1200", "codec2_3200", "opus_6kbps")
PERTURBATIONS = ("noise", "int16", "gain", "windowed")


def _cell(means: dict | None) -> str:
    return "–" if not means else f"{means['pesq']:.2f} / {means['stoi']:.3f}"


def _at_least(model: dict, reference: dict) -> bool:
    return (round(model["pesq"], 2) >= round(reference["pesq"], 2)
            and round(model["stoi"], 3) >= round(reference["stoi"], 3))


def comparison(results: dict[str, dict], baselines: dict) -> str:
    sources = list(baselines["source"])
    head = ["system", *(f"{s} ({baselines['source'][s][REFERENCE]['files']})" for s in sources),
            f"all ({baselines['overall'][REFERENCE]['files']})", f"sources at or above {REFERENCE}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        model = {s: result["source"].get(s, {}).get("llmcodec") for s in sources}
        wins = sum(bool(model[s]) and _at_least(model[s], baselines["source"][s][REFERENCE]) for s in sources)
        overall = result["overall"]["llmcodec"]
        lines.append(f"| {name} | " + " | ".join(_cell(model[s]) for s in sources)
                     + f" | **{_cell(overall)}** | {wins} of {len(sources)} |")
    for system in BASELINES:
        if system in baselines["overall"]:
            lines.append(f"| {system} | " + " | ".join(_cell(baselines["source"][s].get(system)) for s in sources)
                         + f" | **{_cell(baselines['overall'][system])}** | |")
    return "\n".join(lines)


def stability_table(results: dict[str, dict]) -> str:
    head = ["system", *(f"{p}: speech / all / UED" for p in PERTURBATIONS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        st = result.get("token_stability")
        if not st:
            continue
        cells = [f"{100 * st['speech'][p]:.1f} % / {100 * st['mean'][p]:.1f} % / {100 * st['ued'][p]:.1f} %"
                 for p in PERTURBATIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heldout_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help="result names (files NAME.json under --results)")
    parser.add_argument("--baselines-from", required=True, help="result name whose run scored the baselines")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    loaded = {}
    for name in dict.fromkeys([*args.names, args.baselines_from]):
        path = args.results / f"{name}.json"
        if not path.is_file():
            parser.error(f"{path} not found (write it with benchmarks/heldout/report.py)")
        loaded[name] = json.loads(path.read_text(encoding="utf-8"))
    baselines = loaded[args.baselines_from]
    if REFERENCE not in baselines["overall"]:
        parser.error(f"{args.baselines_from} has no {REFERENCE} rows (run llmcodec evaluate with --baselines)")
    results = {name: loaded[name] for name in args.names}
    print(comparison(results, baselines))
    print()
    print(stability_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
