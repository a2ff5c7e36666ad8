"""One benchmark run of an NLLB model: sentences per second and peak memory, one engine.

bench/translate.sh runs this once per engine in its own process (so peak RSS is that
engine's alone) and prints the ratio. Output: one JSON line on stdout.

    python -m shared.translation.bench MODEL_ID --engine transformers|ctranslate2 [--sentences N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared import models, policy
from shared.languages import resolve_language
from shared.translation import ct2
from shared.translation.backends.base import TranslateOptions

# Subtitle-like lines of varied length; repeated with a counter so no two are identical.
LINES = [
    "मैं अब घर जा रहा हूँ।", "तुम कहाँ जा रहे हो?", "फ़िल्म नौ बजे शुरू होती है, जल्दी चलो।", "मेरा भाई बहुत अच्छा आदमी है।",
    "बहुत बहुत धन्यवाद, मेरे दोस्त, तुमने आज मेरी जान बचा ली।", "हम कल सुबह स्टेशन पर मिलेंगे।", "अंधेरे से मत डरो।",
    "पुलिस आने से पहले हमें यहाँ से निकलना होगा, वरना सब खत्म हो जाएगा।", "माँ, मैं पास हो गया!", "यह शहर अब पहले जैसा नहीं रहा।",
]


def corpus(count: int) -> list[str]:
    return [f"{LINES[i % len(LINES)]} ({i // len(LINES) + 1})" if i >= len(LINES) else LINES[i] for i in range(count)]


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.translation.bench")
    parser.add_argument("model_id")
    parser.add_argument("--engine", choices=["transformers", "ctranslate2"], required=True)
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--src", default="hin_Deva")
    parser.add_argument("--tgt", default="eng_Latn")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    cache = policy.cache_root(root=args.root)

    from shared.translation.backends.nllb import NllbTranslator

    path = models.resolve(args.model_id, cache, args.root)
    ct2_path = None
    if args.engine == "ctranslate2":
        ct2_path = ct2.converted_path(cache, args.model_id) or ct2.convert(args.model_id, cache, args.root)
    options = TranslateOptions(device="cpu", beams=args.beams, batch_size=args.batch_size, max_tokens=args.max_tokens,
                               threads=args.threads, compute_type="int8" if ct2_path else "")
    started = time.monotonic()
    translator = NllbTranslator(args.model_id, path, options, ct2_path=ct2_path)
    load_s = time.monotonic() - started
    texts = corpus(args.sentences)
    src, tgt = resolve_language(args.src), resolve_language(args.tgt)
    translator.translate(texts[: min(4, len(texts))], src, tgt)  # warm-up
    started = time.monotonic()
    outputs = translator.translate(texts, src, tgt)
    seconds = time.monotonic() - started
    print(json.dumps({
        "model": args.model_id, "engine": translator.engine, "sentences": len(outputs), "seconds": round(seconds, 3),
        "sentences_per_s": round(len(outputs) / seconds, 2), "load_s": round(load_s, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1), "beams": args.beams, "threads": args.threads or os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
