"""XLA's own record of a compile: the module after every pass that changed it, and each kernel.

One compile with dump options (`xla_dump_to`, `xla_dump_hlo_pass_re=".*"`,
`xla_dump_hlo_as_text`) makes XLA write, per pass pipeline, the module at the
pipeline's start and after each pass that changed it
(`module_0003.jit_f.0014.<pipeline>.after_<pass>.before_<next>.txt`), the
optimized module, and on CPU each kernel's LLVM IR (`*.ir-with-opt.ll`) and
object file (`*.o`); on GPU the PTX (`*.ptx`). This module reads that folder into stages: `hlo-pass:0` is
the module XLA started from, `hlo-pass:I` the module after the I-th pass whose
text changed it, stored as a line delta from the one before (counts by opcode come
with `InspectionResult.stage(id)`, not at record time); `llvm:K`/`asm:K` per
kernel (assembly through `objdump` where binutils is installed), `ptx:K` on GPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspectors.results import Stage, line_delta

DUMP_OPTIONS = {"xla_dump_hlo_pass_re": ".*", "xla_dump_hlo_as_text": True}
# XLA writes the whole module about 40 times (each pipeline's start, each changed pass):
# above this many bytes of unoptimized HLO the dump would crowd a sandbox's private /tmp.
MAX_MODULE_BYTES = int(os.environ.get("JAXPR_EXPLORER_PASS_DUMP_MAX_MB", "1")) * 1_000_000
MAX_KERNEL_BYTES = 1_000_000  # one kernel's LLVM IR or assembly kept in the result
# `module_0003.jit_f.0014.<pipeline>.after_<pass>.before_<next>.txt`, or a pass's own
# checkpoints: `module_0003.jit_f.0017.copy-insertion.after_removing_unnecessary_copies.txt`.
_PASS_FILE = re.compile(r"^module_(\d+)\.(.+)\.(\d{4})\.([^.]+)\.after_(.+?)(?:\.before_(.+))?\.txt$")


@dataclass
class PassDump:
    """The module after one pass, as XLA dumped it."""

    order: int
    pipeline: str
    pass_name: str
    text: str


@dataclass
class Kernel:
    """One kernel XLA emitted: its LLVM IR and, where objdump runs, its assembly."""

    name: str
    llvm: str | None = None
    asm: str | None = None
    asm_note: str = ""
    ptx: str | None = None  # GPU: the PTX XLA generated


@dataclass
class XlaDump:
    """What one compile's dump folder held."""

    before: str | None = None  # the module XLA started from
    passes: list[PassDump] = field(default_factory=list)  # passes that changed the text, in order
    after: str | None = None  # the optimized module
    kernels: list[Kernel] = field(default_factory=list)
    changed_reported: int = 0  # pass dumps XLA wrote (it writes only for passes that changed the module)
    note: str = ""


@contextmanager
def dump_folder() -> Iterator[str]:
    """A private temporary folder for XLA to dump into, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="jxe-xla-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def compile_options(folder: str) -> dict[str, Any]:
    """Return the compiler options that make XLA dump every pass into `folder`."""
    return {"xla_dump_to": folder, **DUMP_OPTIONS}


def worth_recording(unoptimized_hlo: str | None) -> str:
    """Return "" if the passes of this module can be recorded, else why not."""
    size = len(unoptimized_hlo or "")
    if size > MAX_MODULE_BYTES:
        return (
            f"XLA's passes were not recorded: the module is {size / 1e6:.1f} MB and XLA writes it out "
            f"about 40 times (limit {MAX_MODULE_BYTES / 1e6:.0f} MB; JAXPR_EXPLORER_PASS_DUMP_MAX_MB)"
        )
    return ""


def read_dump(folder: str, optimized: str | None = None, disassemble: bool = True) -> XlaDump:
    """Read XLA's dump folder: passes that changed the module (in order) and kernels.

    The dump holds one module per compile; should there be several (a backend
    compiling helpers), the one whose optimized text is `optimized`'s (or the
    largest) is read.
    """
    names = sorted(os.listdir(folder))
    module = _main_module(folder, names)
    if module is None:
        return XlaDump(note="XLA wrote no pass dump for this compile")
    prefix = module + "."
    dump = XlaDump(before=_read(folder, prefix + "before_optimizations.txt"))
    dump.after = _read(folder, prefix + "cpu_after_optimizations.txt") or _read_any(folder, names, prefix, "after_optimizations.txt")
    state = dump.before
    for name in names:
        m = _PASS_FILE.match(name) if name.startswith(prefix) else None
        if not m:
            continue
        # A pipeline's start shows what changed between pipelines (the scheduler, say).
        pass_name = m.group(5) if m.group(5) != "pipeline-start" else f"(between pipelines, before {m.group(4)})"
        dump.changed_reported += m.group(5) != "pipeline-start"
        text = _read(folder, name)
        if text is not None and text != state:
            dump.passes.append(PassDump(int(m.group(3)), m.group(4), pass_name, text))
            state = text
    dump.kernels = _kernels(folder, names, module, disassemble)
    if dump.after is not None and state is not None and state != dump.after:
        dump.note = "the last pass dump differs from XLA's optimized module (was the dump cut short?)"
    return dump


def _main_module(folder: str, names: list[str]) -> str | None:
    """Return the `module_NNNN.name` prefix of the compile's main module (the largest dump)."""
    sizes: dict[str, int] = {}
    for name in names:
        if name.endswith("before_optimizations.txt"):
            prefix = name.removesuffix(".before_optimizations.txt")
            sizes[prefix] = os.path.getsize(os.path.join(folder, name))
    return max(sizes, key=sizes.__getitem__) if sizes else None


def _read(folder: str, name: str) -> str | None:
    """Return a dump file's text, or None if it is not there."""
    try:
        return Path(folder, name).read_text(errors="replace")
    except OSError:
        return None


def _read_any(folder: str, names: list[str], prefix: str, suffix: str) -> str | None:
    """Return the first dump file of this module ending in `suffix` (another backend's naming)."""
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix) and "-" not in name[len(prefix) :].split(".")[0]:
            return _read(folder, name)
    return None


def _kernels(folder: str, names: list[str], module: str, disassemble: bool) -> list[Kernel]:
    """Return the module's kernels: optimized LLVM IR and assembly of each."""
    kernels: dict[str, Kernel] = {}
    ir_suffix, obj_prefix = ".ir-with-opt.ll", module + ".obj-file."
    for name in names:
        if name.startswith(module + ".") and name.endswith(ir_suffix) and not name.startswith(obj_prefix):
            kernel = name[len(module) + 1 : -len(ir_suffix)]
            kernels.setdefault(kernel, Kernel(kernel)).llvm = _read(folder, name)
    for name in names:  # GPU backends dump PTX per module (or per kernel): `module_0001.jit_f.ptx`
        if name.startswith(module + ".") and name.endswith(".ptx"):
            kernel = name[len(module) + 1 : -len(".ptx")] or "module"
            kernels.setdefault(kernel, Kernel(kernel)).ptx = _read(folder, name)
    objects = {name[len(obj_prefix) : -2]: name for name in names if name.startswith(obj_prefix) and name.endswith(".o")}
    listings, note = _disassemble(folder, objects, disassemble)
    for kernel_name in objects:  # CPU: one object file per kernel
        kernel = kernels.setdefault(kernel_name, Kernel(kernel_name))
        kernel.asm = listings.get(kernel_name)
        kernel.asm_note = "" if kernel.asm is not None else note or "objdump printed nothing for this kernel"
    return sorted(kernels.values(), key=lambda k: k.name)


NO_PROGRAMS = "assembly is unavailable here: this process may not start programs such as objdump (a sandbox)"


def _disassemble(folder: str, objects: dict[str, str], allowed: bool) -> tuple[dict[str, str], str]:
    """Disassemble every kernel's object file with one objdump run; return ({kernel: listing}, note)."""
    if not objects:
        return {}, ""
    if not allowed:
        return {}, NO_PROGRAMS
    tool = shutil.which("objdump")
    if tool is None:
        return {}, "assembly is unavailable: objdump (binutils) is not installed"
    paths = {os.path.join(folder, file): kernel for kernel, file in objects.items()}
    try:
        proc = subprocess.run([tool, "-d", "--no-show-raw-insn", *paths], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return {}, f"assembly is unavailable: objdump could not run here ({type(exc).__name__})"
    if proc.returncode != 0:
        return {}, f"assembly is unavailable: objdump failed ({proc.stderr.strip()[:200]})"
    return _split_listing(proc.stdout, paths), ""


def _split_listing(listing: str, paths: dict[str, str]) -> dict[str, str]:
    """Split objdump's output over several files (`<path>:     file format ...`) by kernel."""
    out: dict[str, str] = {}
    starts = sorted((listing.find(f"\n{path}:"), path) for path in paths if f"\n{path}:" in listing)
    for i, (start, path) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(listing)
        # objdump names the temporary file it read: name the kernel instead.
        out[paths[path]] = listing[start:end].replace(path, paths[path] + ".o")
    return out


def pass_stages(dump: XlaDump, expression: str = "") -> list[Stage]:
    """Return `hlo-pass:0` (the module XLA started from) and one stage per pass that changed it."""
    if dump.before is None:
        return []
    stages = [
        Stage(id="hlo-pass:0", kind="hlo-pass", name="before optimizations", expression=expression,
              text=dump.before, group="passes")
    ]  # fmt: skip
    previous = dump.before
    for i, p in enumerate(dump.passes, start=1):
        stages.append(
            Stage(
                id=f"hlo-pass:{i}",
                kind="hlo-pass",
                name=p.pass_name,
                expression=expression,
                group="passes",
                pipeline=p.pipeline,
                pass_name=p.pass_name,
                base=f"hlo-pass:{i - 1}",
                delta=line_delta(previous, p.text),
            )
        )
        previous = p.text
    return stages


def kernel_stages(dump: XlaDump) -> list[Stage]:
    """Return `llvm:NAME` and `asm:NAME` per kernel XLA emitted (texts over MAX_KERNEL_BYTES say so instead)."""
    stages = []
    for k in dump.kernels:
        if k.llvm is not None:
            stages.append(_kernel_stage(f"llvm:{k.name}", "llvm", k.name, k.llvm, ""))
        if k.asm is not None or k.asm_note:
            stages.append(_kernel_stage(f"asm:{k.name}", "asm", k.name, k.asm, k.asm_note))
        if k.ptx is not None:
            stages.append(_kernel_stage(f"ptx:{k.name}", "ptx", k.name, k.ptx, ""))
    return stages


def _kernel_stage(stage_id: str, kind: str, name: str, text: str | None, note: str) -> Stage:
    """A kernel's stage; a text too large to send along is left out, with a note saying so."""
    if text is not None and len(text) > MAX_KERNEL_BYTES:
        note = f"this kernel's {kind} is {len(text) / 1e6:.1f} MB: not kept (limit {MAX_KERNEL_BYTES / 1e6:g} MB)"
        text = None
    return Stage(id=stage_id, kind=kind, name=name, text=text, note=note, group="kernels")


def pass_listing(stages: list[Stage]) -> str:
    """Return one line per pass stage: index, pipeline, pass name (the CLI's `--emit passes`)."""
    rows = [f"{s.index:>4}  {s.pipeline or '-':<40} {s.pass_name or s.name}" for s in stages if s.kind == "hlo-pass"]
    return "\n".join(rows)
