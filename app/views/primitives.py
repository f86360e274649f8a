"""The Primitives panel: the program's primitives by family, each opening its card (computed in the worker).

A card says what the primitive computes, what every parameter of this program's equations means, which rules
JAX registers for it, what grad or vmap made of it here, the StableHLO it lowers to and a live example.
Other views open a card with `open_card(name)` (the Jaxpr view's clickable primitive names) or draw one with
`show_card_for(result, name)` (a graph node's details).
"""

from __future__ import annotations

import streamlit as st

from app import safe, state
from inspectors.results import InspectionResult, PrimitiveCard, PrimitiveCards
from inspectors.styles import FAMILIES, family_fill

SELECTED = "primitive_card"  # session state: the card the panel shows
DIALOG = "primitive_dialog"  # session state: a card asked for from another view (shown once, in a dialog)
RULES = ("jvp", "transpose", "batching", "lowering")
LECTURE_CSS = """<style>
.st-key-primitive_card_box p, .st-key-primitive_card_box li { font-size: 26px !important; line-height: 1.4; }
.st-key-primitive_card_box code { font-size: 24px !important; }
.st-key-primitive_card_box h3 { font-size: 44px !important; }
</style>"""


def card_for(result: InspectionResult, name: str) -> PrimitiveCard | None:
    """Return the card of primitive `name` in this result (None without cards or without that primitive)."""
    cards = result.primitives
    return cards.card(name) if cards else None


def open_card(name: str) -> None:
    """Ask for primitive `name`'s card: the panel selects it and the calling view shows it in a dialog."""
    st.session_state[SELECTED] = name
    st.session_state[DIALOG] = name


def pending_dialog(result: InspectionResult) -> None:
    """Show the card another view asked for (once), in a dialog over that view."""
    name = st.session_state.pop(DIALOG, None)
    card = card_for(result, name) if name else None
    if card is not None:
        _dialog(card)


@st.dialog("Primitive", width="large")
def _dialog(card: PrimitiveCard) -> None:
    show_card(card)


def show_card_for(result: InspectionResult, name: str) -> bool:
    """Draw primitive `name`'s card here; False when the result has no card for it."""
    card = card_for(result, name)
    if card is not None:
        show_card(card)
    return card is not None


def card_popover(result: InspectionResult | None, name: str, key: str) -> None:
    """A small "what `name` does" button opening its card in a popover (the walkthrough's interpreter steps)."""
    card = card_for(result, name) if result is not None else None
    if card is None:
        return
    with st.popover(f"What {safe.md(name)} does", icon=":material/menu_book:", key=key):
        show_card(card)


def primitives_tab(result: InspectionResult) -> None:
    """The program's primitives grouped by family, with counts; the chosen one's card below."""
    cards = result.primitives
    if cards is None or not cards.cards:
        st.info("No primitive cards: the inspection stopped before tracing (or is an older result).")
        return
    last = cards.stage
    total = sum(c.counts.get(last, 0) for c in cards.cards)
    st.caption(
        f"{len(cards.cards)} primitives, {total} equations in {safe.md(last)} (sub-jaxprs included); "
        "counts are of that stage. Click one for its card, or click a primitive name in the Jaxpr view."
    )
    chosen = card_for(result, st.session_state.get(SELECTED) or "") or cards.cards[0]
    _family_rows(cards, chosen.name)
    show_card(chosen)


def _family_rows(cards: PrimitiveCards, chosen: str) -> None:
    """One row per family (the graph's colours): a button per primitive with its count."""
    by_family: dict[str, list[PrimitiveCard]] = {}
    for c in cards.cards:
        by_family.setdefault(c.family, []).append(c)
    order = [f for f in FAMILIES if f in by_family] + [f for f in by_family if f not in FAMILIES]
    for fam in order:
        label = FAMILIES[fam].label if fam in FAMILIES else fam
        head, row = st.columns([1, 5], vertical_alignment="center")
        swatch = safe.html_text(family_fill(fam))
        head.html(
            f'<span style="display:inline-block;width:.9em;height:.9em;background:{swatch};'
            f'border:1px solid #888;border-radius:2px;margin-right:.4em"></span>{safe.html_text(label)}'
        )
        with row, st.container(horizontal=True):
            for c in by_family[fam]:
                count = c.counts.get(cards.stage, 0)
                text = f"{c.name} ×{count}" if count else f"{c.name} (earlier stages)"
                kind = "secondary" if c.name == chosen else "tertiary"
                st.button(safe.md(text), key=f"prim_{c.name}", on_click=_select, args=(c.name,), type=kind)


def _select(name: str) -> None:
    st.session_state[SELECTED] = name


def rich(text: str) -> str:
    """Return our explanation text for markdown: `quoted` names as code spans, everything else escaped."""
    parts = text.split("`")
    return "".join(safe.code_span(p) if i % 2 else safe.md(p) for i, p in enumerate(parts) if p)


def show_card(card: PrimitiveCard) -> None:
    """Draw one card: what it computes, its parameters here, rules, transforms, lowering, a live example."""
    if state.lecture():
        st.html(LECTURE_CSS)
    with st.container(border=True, key="primitive_card_box"):
        marker = "" if card.described else "  ·  :orange-badge[no description yet]"
        st.markdown(f"### {safe.md(card.name)}{marker}")
        fam = FAMILIES[card.family].label if card.family in FAMILIES else card.family
        st.caption(
            f"family: {safe.md(fam)}" + (f" · bound by {safe.code_span(card.binds)}" if card.binds else "")
        )
        if card.described:
            st.markdown(safe.md(card.summary))
            if card.formula:
                st.markdown(safe.code_span(card.formula))
        else:
            st.markdown(
                "JAX knows this primitive, but this explorer has no description of it yet; below is what "
                "JAX itself says about it: its parameters, registered rules and lowering."
            )
        _uses(card)
        _chain(card)
        _rules(card)
        _lowering(card)
        _example(card)


def _uses(card: PrimitiveCard) -> None:
    counts = " · ".join(f"{safe.md(k)}: {v}" for k, v in card.counts.items())
    st.markdown(f"**In this program** — {counts}")
    shown = len(card.uses)
    for use in card.uses:
        st.code(use.text, language=None, wrap_lines=True)
        if not use.params:
            st.caption("no parameters")
        lines = []
        for p in use.params:
            meaning = rich(p.meaning) if p.meaning else "_no explanation yet_"
            lines.append(f"- {safe.code_span(p.name)} = {safe.code_span(p.value)} — {meaning}")
        if lines:
            st.markdown("\n".join(lines))
        st.caption(f"{safe.md(use.stage)}, equation {safe.code_span(use.eqn)}")
    if card.uses_total > shown:
        st.caption(f"{shown} distinct parameter sets shown of {card.uses_total} equations in the last stage.")


def _rules(card: PrimitiveCard) -> None:
    marks = " · ".join(f"{name} {'✓' if card.rules.get(name) else '✗'}" for name in RULES)
    st.markdown(f"**Rules JAX registers** — {marks}")
    if card.rule_notes:
        st.markdown("\n".join(f"- {rich(note)}" for note in card.rule_notes))


def _chain(card: PrimitiveCard) -> None:
    if card.transforms:
        st.markdown("**Through the chain** — what this program's transforms made of it")
        st.markdown("\n".join(f"- {rich(note)}" for note in card.transforms))


def _lowering(card: PrimitiveCard) -> None:
    if card.lowers_to:
        ops = ", ".join(f"{safe.code_span(op)} ×{n}" for op, n in card.lowers_to.items())
        st.markdown(f"**Lowers to** — {ops}")
    else:
        st.markdown("**Lowers to** — no StableHLO op found")
    if card.lowering_note:
        st.caption(f"read from {safe.md(card.lowering_note)}")


def _example(card: PrimitiveCard) -> None:
    ex = card.example
    if ex is None:
        return
    lines = [f"{name} = {expr}   # {value}" for name, expr, value in ex.inputs]
    lines.append(ex.code)
    lines.append(f"# → {ex.output_type} {ex.output}" if not ex.error else f"# {ex.error}")
    st.markdown("**Live example** — run in the worker, through the function that binds it")
    st.code("\n".join(lines), language="python")
