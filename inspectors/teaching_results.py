"""Result types of the teaching views, now in `inspectors.results` (kept importable here)."""

from __future__ import annotations

from inspectors.results import (  # noqa: F401 - re-exported for existing imports
    ArgAval,
    BatchedVar,
    ConstantInfo,
    FusionInfo,
    GradProvenance,
    IntroducedEqn,
    JitProvenance,
    JsonMixin,
    JvpStep,
    LineInfo,
    MatchedEqn,
    OpLoc,
    Provenance,
    Residual,
    SourceMap,
    VmapProvenance,
    VmapRun,
    VmapStep,
    Walkthrough,
)
