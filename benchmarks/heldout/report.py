"""Tables of an ``llmcodec evaluate`` run on the held-out set: per source, per condition, per native rate.

    python benchmarks/heldout/report.py runs/heldout-eval-v6 --manifest data/heldout/manifest.json \
        --name v6 [--results benchmarks/heldout/results]

Writes ``<results>/<name>.json`` (means per source / condition cell / native rate and system, the set's summary,
the run's model hash) and ``<results>/<name>.md`` (the tables). Reads ``rows.jsonl`` and ``summary.json`` of the
run, and the set's ``manifest.json`` for each clip's native rate and level.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

MODEL, REFERENCE = "llmcodec", "codec2_1200"
SYSTEM_ORDER = ("llmcodec", "codec2_700C", "codec2_1200", "codec2_3200", "opus_6kbps")
METRICS = ("pesq", "stoi", "mel", "f0corr")


def _means(rows: list[dict]) -> dict[str, float | int]:
    out: dict[str, float | int] = {"files": len(rows)}
    for metric in METRICS:
        values = [r[metric] for r in rows if r.get(metric) is not None]
        out[metric] = round(float(np.mean(values)), 4) if values else None
    return out


def tables(rows: list[dict], manifest: dict) -> dict:
    clips = {c["file"]: c for c in manifest["clips"]}
    ok = [r for r in rows if r["status"] == "ok"]
    systems = [s for s in SYSTEM_ORDER if any(r["system"] == s for r in ok)] + sorted(
        {r["system"] for r in ok} - set(SYSTEM_ORDER))
    groups: dict[str, dict[str, dict[str, list[dict]]]] = {k: defaultdict(lambda: defaultdict(list))
                                                           for k in ("source", "condition", "condition_level",
                                                                     "condition_rate", "native_rate")}
    for r in ok:
        clip = clips[r["id"]]
        groups["source"][r["domain"]][r["system"]].append(r)
        if clip.get("condition"):
            cell = f"{clip['condition']['rate']} Hz, {clip['condition']['level_dbfs']:g} dBFS"
            groups["condition"][cell][r["system"]].append(r)
            groups["condition_level"][f"{clip['condition']['level_dbfs']:g} dBFS"][r["system"]].append(r)
            groups["condition_rate"][f"{clip['condition']['rate']} Hz"][r["system"]].append(r)
        groups["native_rate"][str(clip["native_rate"])][r["system"]].append(r)
    result = {key: {group: {s: _means(by_system[s]) for s in systems if by_system.get(s)}
                    for group, by_system in sorted(table.items(), key=lambda kv: _order(kv[0]))}
              for key, table in groups.items()}
    result["overall"] = {s: _means([r for r in ok if r["system"] == s]) for s in systems}
    result["beats_reference_on_pesq_and_stoi"] = sorted(
        source for source, by_system in result["source"].items()
        if MODEL in by_system and REFERENCE in by_system
        and by_system[MODEL]["pesq"] > by_system[REFERENCE]["pesq"]
        and by_system[MODEL]["stoi"] > by_system[REFERENCE]["stoi"])
    result["systems"] = systems
    return result


def _order(group: str):
    head = group.split(" ", 1)[0].split(",")[0]
    return (0, float(head), group) if head.lstrip("-").isdigit() else (1, 0.0, group)


def markdown(result: dict, manifest: dict, name: str, model_sha: str | None) -> str:
    systems = result["systems"]
    summary = manifest["summary"]
    lines = [f"# Held-out set: {name}", "",
             f"{summary['clips']} clips, {summary['speakers']} speakers, {len(summary['languages'])} languages, "
             f"{summary['minutes']} min. Model weights sha256 `{(model_sha or '?')[:16]}…`. "
             "Cells: PESQ-WB / STOI (Codec-SUPERB definitions, at 16 kHz).", ""]
    for key, title in (("source", "Per source"), ("condition_level", "Conditions by active level (5 rates each)"),
                       ("condition_rate", "Conditions by sample rate (3 levels each)"),
                       ("condition", "Conditions, one clip per cell (rate x active level)"),
                       ("native_rate", "Per native sample rate (all clips)")):
        lines += [f"## {title}", "", f"| {key.replace('_', ' ')} | clips | " + " | ".join(systems) + " |",
                  "|---|---|" + "---|" * len(systems)]
        for group, by_system in result[key].items():
            files = next(iter(by_system.values()))["files"]
            cells = [f"{by_system[s]['pesq']:.2f} / {by_system[s]['stoi']:.3f}" if s in by_system else "–"
                     for s in systems]
            lines.append(f"| {group} | {files} | " + " | ".join(cells) + " |")
        lines.append("")
    overall = result["overall"]
    lines += ["## Overall", "", "| system | clips | PESQ-WB | STOI | mel | F0Corr |", "|---|---|---|---|---|---|"]
    for s in systems:
        o = overall[s]
        lines.append(f"| {s} | {o['files']} | {o['pesq']:.3f} | {o['stoi']:.3f} | {o['mel']:.3f} | {o['f0corr']:.3f} |")
    wins = result["beats_reference_on_pesq_and_stoi"]
    lines += ["", f"{MODEL} beats {REFERENCE} on both PESQ-WB and STOI on {len(wins)} of {len(result['source'])} "
              f"sources: {', '.join(wins) or 'none'}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="heldout_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="output folder of llmcodec evaluate")
    parser.add_argument("--manifest", type=Path, default=Path("data/heldout/manifest.json"))
    parser.add_argument("--name", required=True, help="name of the result files (v6, v7 …)")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    for path in (args.run / "rows.jsonl", args.run / "summary.json", args.manifest):
        if not path.is_file():
            parser.error(f"{path} not found")
    rows = [json.loads(line) for line in (args.run / "rows.jsonl").read_text().splitlines() if line.strip()]
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    missing = sorted({r["id"] for r in rows} - {c["file"] for c in manifest["clips"]})
    if missing:
        parser.error(f"{len(missing)} evaluated files are not in the manifest (another set?), e.g. {missing[0]}")
    summary = json.loads((args.run / "summary.json").read_text())
    model_sha = summary.get("model_weights_sha256")
    stability = dict(summary.get("systems", {}).get(MODEL, {}).get("token_stability") or {})
    stability.pop("per_file", None)
    result = tables(rows, manifest)
    args.results.mkdir(parents=True, exist_ok=True)
    payload = {"name": args.name, "model_weights_sha256": model_sha, "set": manifest["summary"], **result,
               "token_stability": stability or None}
    (args.results / f"{args.name}.json").write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    text = markdown(result, manifest, args.name, model_sha)
    (args.results / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
