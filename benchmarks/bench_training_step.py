"""Optimizer steps/s, peak memory and a time breakdown of one LLM-Codec training step (tiny config on CPU).

    python benchmarks/bench_training_step.py [--config configs/tiny-cpu.yaml] [--steps 10] [--threads 1]
        [--dataset synthetic] [--key value ...]   # any training-argument override
    python benchmarks/bench_training_step.py --recipe [--lm-layers 2] [--steps 2] [--segment_seconds 4.0]

``--recipe``: the real dimensions with random weights, no download: the released codec config (122.6 M),
a Qwen3 with Qwen3-4B's hidden size 2560, 32 heads / 8 KV heads, head dim 128, FFN 9728, tied embeddings
and the extended vocabulary 151,669 + 20,480 = 172,149 rows (bf16), but ``--lm-layers`` layers (36 = the
real depth); batch 1 x GA 2 (the recipe's 10 shortened) of 4 s crops, FTP K = 5, SA, GAN, every phase on.

Two measurements:

1. end to end: ``LLMCodecTrainer.train`` for ``--steps`` optimizer steps (after 2 warm-up steps), all
   phases active (codec update, FTP, SA, GAN); steps/s and peak RSS (CPU) or peak CUDA memory;
2. breakdown: the same micro-batch through each part, timed separately (median of ``--repeats``):
   codec forward / backward, reconstruction losses, Gumbel bridge, LM forward / backward (+ FTP heads, SA),
   discriminator G-terms forward / backward and the D step (incl. R1). Backward parts are measured as
   ``time(forward + backward) - time(forward)``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _median_time(fn, repeats: int) -> float:
    times = []
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)  # GPU work is asynchronous
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _recipe_components(overrides: dict, extra: list[str], lm_layers: int):
    """Released codec + a Qwen3-4B-shaped LM with ``lm_layers`` layers, random weights, recipe arguments."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llmcodec.modeling import LLMCodecConfig, LLMCodecModel
    from llmcodec.tokenizer import extend_tokenizer, load_offline_qwen3_tokenizer
    from llmcodec.training.trainer import build_components
    from llmcodec.training.trainer.argument_parsing import parse_training_command_line

    tokenizer, _ = extend_tokenizer(load_offline_qwen3_tokenizer(), n_audio_tokens=20_480, warn_non_qwen=False)
    values = dict(codec_init="random", lm_name_or_path="qwen3-4b-shaped", lm_dtype="bfloat16", dataset="synthetic",
                  synthetic_num_examples=8, per_device_train_batch_size=1, gradient_accumulation_steps=2,
                  segment_seconds=4.0, use_cpu=not torch.cuda.is_available())
    values.update(overrides)
    margs, dargs, args, _ = parse_training_command_line(None, extra, values)
    torch.manual_seed(args.seed)
    codec = LLMCodecModel(LLMCodecConfig())  # the released configuration
    config = Qwen3Config(hidden_size=2560, intermediate_size=9728, num_hidden_layers=lm_layers, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=128, vocab_size=len(tokenizer), tie_word_embeddings=True,
                         max_position_embeddings=4096)
    lm = Qwen3ForCausalLM(config).to(torch.bfloat16)
    print(f"recipe dimensions: codec {sum(p.numel() for p in codec.parameters()) / 1e6:.1f} M parameters; LM "
          f"{lm_layers} layer(s), hidden 2560, vocabulary {len(tokenizer):,}, "
          f"{sum(p.numel() for p in lm.parameters()) / 1e6:.0f} M parameters (bf16)")
    return args, build_components(margs, dargs, args, codec=codec, lm=lm, tokenizer=tokenizer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny-cpu.yaml"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--recipe", action="store_true", help="real dimensions, random weights (see above)")
    parser.add_argument("--lm-layers", type=int, default=2, help="--recipe: decoder layers of the Qwen3-4B-sized LM")
    # Without an override the tiny config would synthesise its corpus into ./data: use the in-memory fallback.
    default_data = ["--dataset", "synthetic", "--build_corpus_if_missing", "false"]
    a, extra = parser.parse_known_args(argv)
    if "--dataset" not in extra:
        extra = default_data + extra
    torch.set_num_threads(a.threads)

    from llmcodec.training.trainer.argument_parsing import parse_training_command_line
    from llmcodec.training.trainer import build_components

    out = tempfile.mkdtemp(prefix="bench-train-")
    overrides = dict(output_dir=out, max_steps=a.steps + 2, save_strategy="no", report_to=[], disable_tqdm=True,
                     export_at_end=False, d_only_steps=0, ftp_delay_steps=0, ftp_ramp_steps=0, sa_delay_steps=0,
                     sa_ramp_steps=1, logging_steps=1000, torch_num_threads=a.threads)
    if a.recipe:
        args, c = _recipe_components(overrides, extra, a.lm_layers)
    else:
        margs, dargs, args, _ = parse_training_command_line(a.config, extra, overrides)
        c = build_components(margs, dargs, args)
    trainer = c.trainer(args)

    # ---- 1. end to end ---------------------------------------------------------------------------
    stamps: list[float] = []
    from transformers import TrainerCallback

    class _Stamp(TrainerCallback):
        def on_step_end(self, *_, **__):
            stamps.append(time.perf_counter())

    trainer.add_callback(_Stamp())
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed = stamps[2:]
    steps_per_s = (len(timed) - 1) / (timed[-1] - timed[0]) if len(timed) > 1 else float("nan")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    micro = args.per_device_train_batch_size
    seg = c.data_collator.segment_samples / c.module.codec.config.sampling_rate
    print(f"config {'--recipe (random weights)' if a.recipe else Path(a.config).name}: batch {micro} x GA {args.gradient_accumulation_steps} x {seg} s crops, "
          f"codebook {c.module.codec.config.codebook_size}, {a.threads} thread(s), device {args.device}")
    print(f"end to end: {steps_per_s:.3f} optimizer steps/s ({1 / steps_per_s:.2f} s/step) over {len(timed) - 1} steps")
    print(f"peak RSS {peak_rss_mb:.0f} MB" + (f", peak CUDA {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
                                               if torch.cuda.is_available() else ""))

    # ---- 2. breakdown on one micro-batch -------------------------------------------------------------
    m, d = trainer.training_module, trainer.discriminator
    batch = next(iter(trainer.get_train_dataloader()))
    wav = batch["input_values"].to(args.device)
    texts = trainer._tokenize_text(batch["text"], wav.device)
    m.train()
    parts: dict[str, float] = {}

    def codec_fwd():
        return m.codec(input_values=wav)

    parts["codec forward"] = _median_time(codec_fwd, a.repeats)
    parts["codec backward"] = _median_time(lambda: codec_fwd().audio_values.square().mean().backward(), a.repeats) - parts["codec forward"]
    with torch.no_grad():
        out = codec_fwd()
    recon = out.audio_values.detach().requires_grad_(True)
    parts["reconstruction losses fwd+bwd"] = _median_time(lambda: m.recon(wav, recon)["total"].backward(), a.repeats)
    latents = out.latents.detach().requires_grad_(True)
    rows = m.lm.audio_embedding_rows()
    parts["bridge fwd+bwd"] = _median_time(lambda: m.bridge(latents, rows, 1.0).inputs_embeds.sum().backward(), a.repeats)
    embeds = m.bridge(latents, rows, 1.0).inputs_embeds.detach().requires_grad_(True)
    codes, cmask = out.audio_codes.clamp_min(0), out.audio_codes_mask

    def lm_fwd():
        hs = m.lm.hidden_states(inputs_embeds=embeds)
        loss = m.ftp(hs[-1], codes, cmask).loss
        if m.sa is not None and texts is not None:
            from llmcodec.training.objectives.semantic_alignment import encode_text_features, select_audio_features

            text = encode_text_features(m.lm, texts[0], texts[1], m.sa_layers)
            loss = loss + m.sa(select_audio_features(hs, m.sa_layers), text).cosine_loss
        return loss

    parts["LM + FTP + SA forward"] = _median_time(lm_fwd, a.repeats)
    parts["LM + FTP + SA backward"] = _median_time(lambda: lm_fwd().backward(), a.repeats) - parts["LM + FTP + SA forward"]
    if d is not None:
        parts["discriminator G-terms fwd+bwd"] = _median_time(
            lambda: sum(v for v in trainer._generator_adversarial_terms(wav, recon).values()).backward(), a.repeats)
        trainer.state.global_step = 1  # no R1

        def d_step():
            trainer.step_state.d_batch = (wav, recon.detach())
            trainer._discriminator_step()

        parts["discriminator step (no R1)"] = _median_time(d_step, a.repeats)
        trainer.state.global_step = 0  # R1 due
        parts["discriminator step with R1"] = _median_time(d_step, a.repeats)
    for p in m.parameters():  # gradients of one micro-batch, then the chained optimizer step (+ zero_grad)
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    optimizer = trainer.optimizer if trainer.optimizer is not None else trainer.create_optimizer()
    parts["generator optimizer step"] = _median_time(optimizer.step, a.repeats)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    total = sum(v for k, v in parts.items() if k != "discriminator step with R1")
    print(f"\nbreakdown per micro-batch (batch {micro}, median of {a.repeats}):")
    for k, v in parts.items():
        print(f"  {k:<34s} {1000 * v:8.1f} ms  {100 * v / total:5.1f} %" if k != "discriminator step with R1"
              else f"  {k:<34s} {1000 * v:8.1f} ms  (every {args.r1_every} steps)")
    print(f"  {'sum (one micro-batch + D step)':<34s} {1000 * total:8.1f} ms")
    peak = (f"peak CUDA {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if torch.cuda.is_available()
            else f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    print(f"peak memory over the whole run: {peak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
