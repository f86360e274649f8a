"""The sample catalogue: `samples/*.py` with their declared defaults, read without running them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inspectors.source import read_defaults

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
STREAMS = [
    "slides", "randomness", "control_flow", "differentiability", "vectorization", "parallelization", "real_models",
]
STREAM_TITLES = {
    "slides": "Slides examples",
    "randomness": "Randomness",
    "control_flow": "Control flow",
    "differentiability": "Differentiability",
    "vectorization": "Vectorization",
    "parallelization": "Parallelization",
    "real_models": "Real models (Flax, Equinox, Optax)",
}


@dataclass
class Sample:
    """One sample program and what it declares about itself."""

    name: str
    path: str
    stream: str
    title: str
    doc: str
    entry: str | None
    args: str | None
    transforms: list[str] = field(default_factory=list)

    def source(self) -> str:
        """Return the sample's source text."""
        return Path(self.path).read_text(encoding="utf-8")


def list_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    """Return every sample, ordered by stream then file name."""
    samples = []
    for path in sorted(directory.glob("*.py")):
        d = read_defaults(path.read_text(encoding="utf-8"))
        samples.append(
            Sample(
                name=path.stem,
                path=str(path),
                stream=d.stream or "other",
                title=d.title or path.stem,
                doc=d.doc,
                entry=d.entry,
                args=d.args,
                transforms=d.transforms,
            )
        )
    order = {s: i for i, s in enumerate(STREAMS)}
    return sorted(samples, key=lambda s: (order.get(s.stream, len(order)), s.name))


def get_sample(name: str, directory: Path = SAMPLES_DIR) -> Sample:
    """Return the sample called `name` (its file stem)."""
    for sample in list_samples(directory):
        if sample.name == name:
            return sample
    raise LookupError(f"no sample named {name!r}")
