"""F0 error of a pitch-supervised run's own head at each of its checkpoints (issue 10).

    python benchmarks/pitch_probe/head_error.py runs/demo-small-stage1p-pitch --base runs/demo-small-stage1c-long/export

Loads the codec and the pitch head (``pitch.*``) from every ``checkpoint-N/training_state.safetensors`` of the run
and predicts F0 on ``--files`` clips of ``--data`` (seeded choice). Reports, over their voiced frames (Praat F0), the
head's median error in cents and its voicing BCE, beside two constant guesses: the median F0 of all those clips, and
each clip's own median (an oracle for speaker and register: only a head that tracks intonation beats it). The head
reads what the run's ``pitch_input`` says (``--pitch-input``). Writes ``OUT/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from llmcodec.audio import load_audio
from llmcodec.hub import load_codec
from llmcodec.training.data.pitch_targets import frame_f0
from llmcodec.training.objectives import PitchSupervision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gan_warmup"))
from eval_checkpoints import codec_weights  # noqa: E402 - the codec's weights inside a checkpoint's training state


@torch.no_grad()
def head_error(codec, head: PitchSupervision, clips: list[torch.Tensor]) -> dict[str, float]:
    errors, bces, targets, per_clip = [], [], [], []
    for wav in clips:
        out = codec(input_values=wav.reshape(1, 1, -1))
        hz, voiced_prob = head.predict(head.features(out))
        f0 = torch.from_numpy(frame_f0(wav, 16000, codec.config.hop_length))
        n = min(len(f0), hz.shape[1])
        f0, hz, voiced_prob = f0[:n], hz[0, :n], voiced_prob[0, :n]
        voiced = f0 > 0
        errors.append((torch.log2(hz[voiced]) - torch.log2(f0[voiced])).abs() * 1200)
        bces.append(F.binary_cross_entropy(voiced_prob.clamp(1e-6, 1 - 1e-6), voiced.float()).item())
        targets.append(torch.log2(f0[voiced]))
        per_clip.append((targets[-1] - targets[-1].median()).abs() * 1200)
    target = torch.cat(targets)
    constant = (target - target.median()).abs() * 1200
    return {"median_cents": float(torch.cat(errors).median()), "voicing_bce": float(np.mean(bces)),
            "constant_median_cents": float(constant.median()),
            "per_clip_constant_median_cents": float(torch.cat(per_clip).median()), "voiced_frames": int(target.numel())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--base", type=Path, required=True, help="the run's codec_init (its config)")
    ap.add_argument("--pitch-input", choices=["projected", "quantized"], default="projected")
    ap.add_argument("--data", type=Path, default=Path("data/recorded/train"))
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/pitch_probe/results"))
    ap.add_argument("--name", default=None, help="output name (default: the run folder's name)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    checkpoints = sorted(a.run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    files = sorted(a.data.glob("**/*.wav"))
    if not checkpoints or not files:
        print(f"error: no checkpoint-* in {a.run}" if not checkpoints else f"error: no .wav under {a.data}", file=sys.stderr)
        return 2
    clips = [torch.as_tensor(load_audio(f, 16000)[0]).float().reshape(-1)
             for f in random.Random(1).sample(files, min(a.files, len(files)))]
    codec = load_codec(str(a.base)).eval()
    points = []
    for checkpoint in checkpoints:
        state = load_file(str(checkpoint / "training_state.safetensors"))
        codec.load_state_dict(codec_weights(checkpoint))
        head_state = {k[len("pitch."):]: v for k, v in state.items() if k.startswith("pitch.")}
        if not head_state:
            print(f"error: {checkpoint} has no pitch head (the run had lambda_pitch 0)", file=sys.stderr)
            return 2
        head = PitchSupervision(head_state["head.0.weight"].shape[1], source=a.pitch_input)
        head.load_state_dict(head_state)
        points.append({"step": int(checkpoint.name.split("-")[1]), **head_error(codec, head.eval(), clips)})
        print(json.dumps(points[-1]), flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name or a.run.name}.json").write_text(json.dumps({"run": str(a.run), "points": points}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
